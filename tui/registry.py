"""One registry of console actions: the core action table's keys plus the console's own.
It feeds the bindings, the footer, the command palette, the help screen and read-only mode."""
from __future__ import annotations

from dataclasses import dataclass

from core.actions import ACTIONS, Action


@dataclass(frozen=True)
class KeyAction:
    key: str                          # the key as typed ("p", "R", "/", "?")
    id: str                           # binding id ("pause", "filter")
    label: str                        # footer label
    description: str
    core: tuple[Action, ...] = ()     # instance actions sharing the key (toggles)
    destructive: bool = False
    show: bool = True                 # in the footer (everything is in help and the palette)

    @property
    def mutating(self) -> bool:
        return bool(self.core)

    @property
    def binding_key(self) -> str:
        return TEXTUAL_KEYS.get(self.key, self.key)

    def resolve(self, inst: dict) -> tuple[Action, Exception | None]:
        """The action this key means for `inst`: the first of its actions the state table
        allows, else the first with the reason it is refused."""
        for action in self.core:
            if action.allowed(inst):
                return action, None
        return self.core[0], self.core[0].refusal(inst)


TEXTUAL_KEYS = {"/": "slash", "?": "question_mark", "!": "exclamation_mark", " ": "space",
                "Enter": "enter", "Delete": "delete", "Esc": "escape", "Tab": "tab"}

_FOOTER = {"n", "s", "o", "r", "p", "z", "d", "/", "?", "q"}


def _core_entries() -> list[KeyAction]:
    groups: dict[str, list[Action]] = {}
    for action in ACTIONS.values():
        groups.setdefault(action.key or action.name, []).append(action)
    out = []
    for key, acts in groups.items():
        names = [a.name.replace("_", " ") for a in acts]
        out.append(KeyAction(key if acts[0].key else "", acts[0].name, "/".join(names),
                             acts[0].description, tuple(acts), any(a.destructive for a in acts),
                             key in _FOOTER))
    return out


CONSOLE_ENTRIES = [
    KeyAction("Delete", "delete_key", "delete", "Terminate (same as d)", (ACTIONS["delete"],),
              True, False),
    KeyAction("Enter", "details", "details", "Details of the selected instance, or filter by "
              "the selected host", show=False),
    KeyAction("/", "filter", "filter", "Filter the focused table by a regex (! prefix inverts)"),
    KeyAction("!", "problems", "problems", "Show only problems: ERROR, stuck tasks, hosts down",
              show=False),
    KeyAction(" ", "mark", "mark", "Mark the row: actions apply to every marked instance",
              show=False),
    KeyAction("S", "sort", "sort", "Cycle the sort column of the focused table", show=False),
    KeyAction("O", "order", "order", "Reverse the sort order", show=False),
    KeyAction("f", "follow_instance", "its logs", "Show only the selected instance's log lines",
              show=False),
    KeyAction("t", "trace", "trace", "Show the selected instance's last request across the "
              "log panes", show=False),
    KeyAction("Esc", "clear", "clear", "Clear filters, marks and log focus", show=False),
    KeyAction("?", "help", "help", "Keys and what they do"),
    KeyAction("q", "quit", "quit", "Quit (asks first while a move is in flight)"),
]


# Actions that ask for an argument first: (argument, what to choose from).
ARGUMENTS = {"snapshot": ("name", "text"), "rebuild": ("image", "images"),
             "rescue": ("image", "images"), "resize": ("flavor", "flavors")}


def registry() -> list[KeyAction]:
    return _core_entries() + CONSOLE_ENTRIES


REGISTRY = registry()
BY_KEY = {e.key: e for e in REGISTRY if e.key}
