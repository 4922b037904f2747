"""The main screen: hosts, instances and the log panes, with a key for every action.

Keys come from the registry and act on the focused view (the instances table, the hosts
table, or, for the global keys, anywhere). A key whose action the state table does not
allow for the selection is dimmed in the key bar; pressed anyway, it sends nothing and says
why. The key bar and the tables' and panes' titles follow the selection and the view state.
Actions live in main_actions.py, view keys (filters, sorting, moving, logs) in main_view.py.
"""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Key
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input

from ..registry import HOSTS, INSTANCES, KEYS, REGISTRY, TEXTUAL_KEYS, KeyAction, entry_for
from ..widgets.diff_table import DiffTable
from ..widgets.hosts_table import HostsTable
from ..widgets.instances_table import InstancesTable
from ..widgets.keybar import Item, KeyBar
from ..widgets.log_panes import LogPanes
from ..widgets.split import STEP, PaneSplit
from .main_actions import ActionsMixin
from .main_view import ViewMixin

# Keys the tables keep for themselves unless we take them first (only while a table is
# focused: check_action lets them through elsewhere).
_PRIORITY = {"Enter", "Home", "End"}
_FROM_TEXTUAL = {v: k for k, v in TEXTUAL_KEYS.items()}


class MainScreen(ActionsMixin, ViewMixin, Screen):
    BINDINGS = [Binding(TEXTUAL_KEYS.get(k, k), f"key({k!r})", k, show=False, id=f"key-{k}",
                        priority=k in _PRIORITY) for k in KEYS] + \
        [Binding("tab", "app.focus_next", "next pane", show=False)]

    # The instances table has the focus from the start: Textual's default gave it to the
    # hosts table first, and moving it restyled both tables (7 ms of the first picture).
    AUTO_FOCUS = "#instances"

    # The client's updates can arrive before on_mount has run: the view state starts here.
    filter_target: DataTable | None = None
    scope_host: str | None = None  # Enter on a host row shows only its instances
    _toast = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield HostsTable(id="hosts")
        yield InstancesTable(id="instances")
        logs = LogPanes(id="logs")  # the host names' width comes with the client's info
        logs.host_of = self._host_of  # before the first lines (history may come before on_mount)
        logs.on_state = self.update_titles
        yield logs
        yield Input(placeholder="regex filter (! prefix inverts) - Enter applies, Esc cancels",
                    id="filter")
        yield KeyBar(id="keybar")

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.call_after_refresh(self.update_titles)  # not mounted yet while on_mount runs
        self.refresh_keys()
        self.split = PaneSplit(self.logs, self.app.read_only)
        self.split.restore()
        # the client's rows, info and lines: into a screen ready for them
        self.app.start_up(self.app.first_rows())

    def use_info(self, info: dict, prefs_dir, prefs: dict) -> None:
        """What the client says of the cloud (before any line is shown): the hosts' names
        for the panes' host column, and where the split is remembered."""
        self.logs.host_width = max((len(h) for h in info["hosts"]), default=0)
        self.split.read_only = self.app.read_only
        self.split.use(prefs_dir, prefs)
        self.hosts.rerender()  # the capacity cells follow the allocation ratios

    def do_logs_grow(self) -> None:
        self.split.move(STEP)

    def do_logs_shrink(self) -> None:
        self.split.move(-STEP)

    def _host_of(self, uuid: str) -> str | None:
        """An n-cpu line read back from a file has no host: its instance's, where known."""
        return (self.instances.records.get(uuid) or {}).get("host")

    @property
    def instances(self) -> InstancesTable:
        return self.query_one(InstancesTable)

    @property
    def hosts(self) -> HostsTable:
        return self.query_one(HostsTable)

    @property
    def logs(self) -> LogPanes:
        return self.query_one(LogPanes)

    @property
    def keybar(self) -> KeyBar:
        return self.query_one(KeyBar)

    @property
    def view(self) -> str | None:
        """The focused view: what the keys act on."""
        focused = self.focused
        if focused is self.hosts:
            return HOSTS
        if focused is None or focused is self.instances:
            return INSTANCES
        if isinstance(focused, Input) and self.filter_target is self.hosts:
            return HOSTS
        return INSTANCES if isinstance(focused, Input) else None

    # -- the client's updates (called by the app on the UI thread) ----------------------
    def apply(self, instances: list[dict], hosts: list[dict], full: bool = False) -> None:
        """Changed records; full: every record there is (a snapshot): the others are gone."""
        if full:
            self.instances.keep_only({i["uuid"] for i in instances})
            self.hosts.keep_only({h["name"] for h in hosts})
        if hosts:
            self.hosts.upsert(hosts, "name")
            down = {h["name"] for h in self.hosts.records.values() if h["state"] == "down"}
            if down != self.instances.down_hosts:
                self.instances.down_hosts = down
                self.instances.rerender()
        if instances:
            self.logs.names.update((i["uuid"], i["name"]) for i in instances)
            self.instances.upsert(instances, "uuid")
        if instances or hosts or full:
            self.update_titles()
            # The key bar depends on the selected (or marked) rows and their hosts only.
            table = self.instances
            watched = table.marked | {table.selected_key}
            if hosts or full or any(i["uuid"] in watched for i in instances):
                self.refresh_keys()

    # -- keys --------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action != "key":
            return True
        entry = entry_for(parameters[0], self.view)
        if entry is None:
            return False
        if entry.key in _PRIORITY and not isinstance(self.focused, DiffTable):
            return False  # Enter in the filter box, Home/End in a log pane
        return True if self.why_not(entry) is None else None

    def on_key(self, event: Key) -> None:
        """A dimmed key reaches here instead of its action: say why. A key of another view
        says where it works."""
        if isinstance(self.focused, Input):
            return
        key = event.character if event.character and event.character.isprintable() else \
            _FROM_TEXTUAL.get(event.key, "")
        if not key:
            return
        entry = entry_for(key, self.view)
        if entry is not None:
            why = self.why_not(entry)
            if why is not None and entry.mutating:
                self.toast(why, title=self.label_of(entry), severity="warning")
                event.stop()
            return
        other = next((e for e in REGISTRY if e.key == key), None)
        if other is not None:
            where = "the instances table" if other.view == INSTANCES else "the hosts table"
            self.toast(f"'{key}' ({other.label}) acts on {where}: Tab moves the focus there",
                       title="not on this view", severity="warning")
            event.stop()

    def action_key(self, key: str) -> None:
        entry = entry_for(key, self.view)
        if entry is not None:
            self.run_entry(entry)

    def run_entry(self, entry: KeyAction, only=None) -> None:
        """A registry entry, from a key or the palette."""
        if entry.core:
            self.run_instance_action(entry, only=only)
        elif entry.id.startswith("host_"):
            getattr(self, f"do_{entry.id}")()
        elif entry.id.startswith("sort_"):
            self.do_sort_column(entry)
        else:
            getattr(self, f"do_{entry.id}")()

    @on(DataTable.RowHighlighted)
    def _selection_moved(self) -> None:
        self.refresh_keys()

    @on(DataTable.RowSelected)
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        """A click on the highlighted row: nothing (Enter is a binding of ours)."""
        event.stop()

    def on_descendant_focus(self) -> None:
        self.refresh_keys()

    # -- the key bar -------------------------------------------------------------------
    def refresh_keys(self) -> None:
        if not self.is_mounted:
            return
        view = self.view
        items = []
        self._targets_cache = self.targets()
        try:
            self._bar_items(view, items)
        finally:
            self._targets_cache = None
        pinned = [Item("?", "help"), Item("q", "quit")]
        self.keybar.show(items, pinned)
        self.refresh_bindings()

    def _bar_items(self, view: str | None, items: list[Item]) -> None:
        for entry in REGISTRY:
            if not entry.key or entry.key in ("?", "q") or entry.view not in (view, None):
                continue
            blocked = self.cannot_work(entry)
            if not entry.show and blocked is None and entry.id not in ("confirm_resize", "revert_resize"):
                continue
            why = self.why_not(entry)
            if entry.key in ("c", "v") and why is not None:
                continue  # offered only while a resize waits for its answer
            items.append(Item(entry.key, self.label_of(entry), why is None,
                              blocked[1] if blocked else None))

    # -- toasts: one at a time from the console ----------------------------------------
    def toast(self, message: str, title: str = "", severity: str = "information") -> None:
        self._toast = self.app.toast(message, title, severity, replace=self._toast)
