"""One registry of console actions: the core action table's keys plus the console's own.
It feeds the bindings, the footer (the key bar), the command palette, the help screen and
read-only mode.

Keys act on the focused view: an entry belongs to the instances view, the hosts view or to
every view (view None). One key can mean different things in different views (`e` resizes
an instance and enables or disables a host)."""
from __future__ import annotations

from dataclasses import dataclass

from core.actions import ACTIONS, Action

INSTANCES, HOSTS = "instances", "hosts"


@dataclass(frozen=True)
class KeyAction:
    key: str                          # the key as typed ("p", "R", "/", "?")
    id: str                           # unique id ("pause", "filter", "host_toggle")
    label: str                        # footer label (a toggle's first way)
    description: str
    core: tuple[Action, ...] = ()     # instance actions sharing the key (toggles)
    destructive: bool = False
    show: bool = True                 # in the key bar (everything is in help and the palette)
    view: str | None = INSTANCES      # INSTANCES, HOSTS, or None for every view
    labels: tuple[str, ...] = ()      # a host toggle's ways, in the order of its states
    mutating_host: bool = False       # changes a host (refused by a read-only console)

    @property
    def mutating(self) -> bool:
        return bool(self.core) or self.mutating_host

    @property
    def binding_key(self) -> str:
        return TEXTUAL_KEYS.get(self.key, self.key)

    def resolve(self, inst: dict) -> tuple[Action, Exception | None]:
        """The action this key means for `inst`: the first of its actions the state table
        allows, else the first with the reason it is refused. Lock and unlock are both always
        allowed (idempotent, as in Nova): the instance's lock decides the way."""
        actions = self.core
        if inst.get("locked") and any(a.name == "unlock" for a in actions):
            actions = sorted(actions, key=lambda a: a.name != "unlock")
        for action in actions:
            if action.allowed(inst):
                return action, None
        return self.core[0], self.core[0].refusal(inst)


TEXTUAL_KEYS = {"/": "slash", "?": "question_mark", "!": "exclamation_mark", " ": "space",
                "Enter": "enter", "Delete": "delete", "Esc": "escape", "Tab": "tab",
                "Home": "home", "End": "end", "+": "plus", "-": "minus"}

# In the key bar, in this order (a toggle shows the way it will go).
_FOOTER = ("n", "c", "v", "p", "z", "s", "o", "r", "d", "/")
_LABELS = {"create": "launch", "confirm_resize": "confirm", "revert_resize": "revert",
           "reboot_hard": "hard reboot"}


def _core_entries() -> list[KeyAction]:
    groups: dict[str, list[Action]] = {}
    for action in ACTIONS.values():
        groups.setdefault(action.key or action.name, []).append(action)
    out = []
    for key, acts in groups.items():
        names = [_LABELS.get(a.name, a.name.replace("_", " ")) for a in acts]
        out.append(KeyAction(key if acts[0].key else "", acts[0].name, "/".join(names),
                             acts[0].description, tuple(acts), any(a.destructive for a in acts),
                             key in _FOOTER))
    out.sort(key=lambda e: _FOOTER.index(e.key) if e.key in _FOOTER else len(_FOOTER))
    return out


# Shift+letter sorts the focused table by a column (again: the other way), as k9s does.
SORT_KEYS = {INSTANCES: {"N": "name", "I": "ip", "S": "status", "T": "task", "P": "power",
                         "H": "host", "F": "flavor", "A": "age"},
             HOSTS: {"N": "name", "S": "state", "A": "az", "C": "vcpus", "U": "ram",
                     "I": "instances"}}


def _sort_entries() -> list[KeyAction]:
    return [KeyAction(key, f"sort_{view}_{col}", f"sort {col}",
                      f"Sort the {view} table by {col} (again: the other way)", show=False,
                      view=view)
            for view, keys in SORT_KEYS.items() for key, col in keys.items()]


HOST_ENTRIES = [
    KeyAction("e", "host_toggle", "disable", "Disable the host (asks a reason; the scheduler "
              "skips it) or enable it again", view=HOSTS, labels=("disable", "enable"),
              mutating_host=True),
    KeyAction("E", "host_evacuate", "evacuate all", "Evacuate every instance of a host that "
              "is down: rebuild them elsewhere", destructive=True, view=HOSTS,
              mutating_host=True),
    KeyAction("Enter", "host_instances", "its instances", "Show only the host's instances "
              "(again: every host's)", view=HOSTS),
]

CONSOLE_ENTRIES = [
    KeyAction("Delete", "delete_key", "delete", "Terminate (same as d)", (ACTIONS["delete"],),
              True, False),
    KeyAction("Enter", "details", "details", "Details of the selected instance", show=False),
    KeyAction("/", "filter", "filter", "Filter the focused table by a regex (! prefix inverts)",
              view=None),
    KeyAction("!", "problems", "problems", "Show only problems: ERROR, stuck tasks, hosts down",
              show=False, view=None),
    KeyAction(" ", "mark", "mark", "Mark the row: an action applies to every marked instance",
              show=False),
    KeyAction("O", "order", "order", "Reverse the sort order of the focused table", show=False,
              view=None),
    KeyAction("j", "down", "down", "Next row", show=False, view=None),
    KeyAction("k", "up", "up", "Previous row", show=False, view=None),
    KeyAction("g", "first", "first", "First row (also Home)", show=False, view=None),
    KeyAction("G", "last", "last", "Last row (also End)", show=False, view=None),
    KeyAction("Home", "first_home", "first", "First row", show=False, view=None),
    KeyAction("End", "last_end", "last", "Last row", show=False, view=None),
    KeyAction("f", "follow_instance", "its logs", "Show only the selected instance's log lines",
              show=False),
    KeyAction("t", "trace", "trace", "Show the selected instance's last request across the "
              "log panes", show=False),
    KeyAction("w", "wrap", "wrap", "Log panes: wrap long lines (again: cut them)", show=False,
              view=None),
    KeyAction("Z", "zoom", "zoom logs", "Log panes: full screen (again: back)", show=False,
              view=None),
    KeyAction("l", "level", "log level", "Log panes: the lowest level shown (DEBUG is hidden "
              "at first; the files keep everything)", show=False, view=None),
    KeyAction("+", "logs_grow", "bigger logs", "Log panes: more of the screen (remembered)",
              show=False, view=None),
    KeyAction("-", "logs_shrink", "smaller logs", "Log panes: less of the screen (remembered)",
              show=False, view=None),
    KeyAction("Esc", "clear", "clear", "Clear filters, marks and log narrowing", show=False,
              view=None),
    KeyAction("?", "help", "help", "Keys and what they do", view=None),
    KeyAction("q", "quit", "quit", "Quit (asks first while a move is in flight)", view=None),
]


# Actions that ask for an argument first: (argument, what to choose from).
ARGUMENTS = {"snapshot": ("name", "text"), "rebuild": ("image", "images"),
             "rescue": ("image", "images"), "resize": ("flavor", "flavors")}


def registry() -> list[KeyAction]:
    return _core_entries() + HOST_ENTRIES + _sort_entries() + CONSOLE_ENTRIES


REGISTRY = registry()
BY_ID = {e.id: e for e in REGISTRY}
KEYS = sorted({e.key for e in REGISTRY if e.key})
# The instances view's keys and the global ones (as before views had keys of their own).
BY_KEY = {e.key: e for e in REGISTRY if e.key and e.view in (INSTANCES, None)}
_BY_VIEW_KEY = {(e.view, e.key): e for e in REGISTRY if e.key}


def entry_for(key: str, view: str | None) -> KeyAction | None:
    """What `key` means in `view`: the view's own entry, else a global one."""
    return _BY_VIEW_KEY.get((view, key)) or _BY_VIEW_KEY.get((None, key))
