"""An instance in full: fields, addresses, the last fault, the action history and the
domain XML. Everything is read off the UI thread.

The screen follows its instance live: when the instance's row changes (an event from the
client) or every few seconds (a new event in the history), it is read again and only the
changed cells are updated. The instance action keys work here as on the main screen, on
this instance."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.events import Key
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Static, TabbedContent, TabPane
from textual.widgets.data_table import RowDoesNotExist

from core.errors import NovaError

from ..registry import REGISTRY, KeyAction

WATCH_SECONDS = 0.25    # the row's changes are picked up this often
RELOAD_SECONDS = 5.0    # and everything is read again this often

# The instance action keys (launch excepted): they act on this screen's instance.
ACTION_KEYS = {e.key: e for e in REGISTRY if e.core and e.key and e.core[0].name != "create"
               and getattr(e, "view", "instances") in ("instances", None)}


class DetailScreen(Screen):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "back")] + [
        Binding(e.binding_key, f"act({k!r})", e.label, show=e.show, id=f"detail-{e.id}")
        for k, e in ACTION_KEYS.items()]

    def __init__(self, inst: dict) -> None:
        super().__init__()
        self.inst = inst
        self.uuid = inst["uuid"]
        self._seen = inst.get("updated_at")
        self._loaded_at = 0.0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(f"{self.inst['name']}  {self.inst['uuid']}", id="detail-title", classes="title")
        with TabbedContent():
            with TabPane("Overview", id="overview"):
                yield DataTable(id="fields", cursor_type="row", show_header=False)
            with TabPane("Actions", id="actions"):
                yield DataTable(id="history", cursor_type="row")
            with TabPane("Domain XML", id="xml"):
                with VerticalScroll():
                    yield Static("loading…", id="xml-text", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#history", DataTable).add_columns("Action", "Request ID", "Start", "Finish",
                                                         "Message", "Events")
        self.query_one("#fields", DataTable).add_columns("Field", "Value")
        self.set_interval(WATCH_SECONDS, self._watch)
        self.load()

    # -- following the instance ----------------------------------------------------------
    def _row(self) -> dict | None:
        main = getattr(self.app, "main", None)
        return main.instances.records.get(self.uuid) if main is not None else None

    def _watch(self) -> None:
        """Read again when the instance's row changed (or left), or now and then."""
        row = self._row()
        seen = None if row is None else row.get("updated_at")
        if seen != self._seen or time.monotonic() - self._loaded_at > RELOAD_SECONDS:
            self._seen = seen
            self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        self._loaded_at = time.monotonic()
        client = self.app.client
        try:
            found = client.detail(self.uuid)
        except NovaError as e:  # deleted meanwhile, or the service is away: keep what is shown
            self.app.call_from_thread(self._unreadable, e.message)
            return
        self.app.call_from_thread(self._show, found["instance"], found["detail"], found["actions"])
        try:
            xml = client.domain_xml(self.uuid)
        except NovaError as e:
            xml = f"could not read the domain XML: {e.message}"
        self.app.call_from_thread(self._show_xml, xml)

    def _unreadable(self, reason: str) -> None:
        if self.is_attached:
            self.query_one("#detail-title", Label).update(
                f"{self.inst['name']}  {self.uuid}  ({reason})")

    def _show_xml(self, xml: str) -> None:
        if self.is_attached:
            self.query_one("#xml-text", Static).update(xml)

    def _show(self, inst: dict, detail: dict, actions: list[dict]) -> None:
        if not self.is_attached:
            return
        self.inst = inst
        self.query_one("#detail-title", Label).update(f"{inst['name']}  {inst['uuid']}")
        fault = detail.pop("fault")
        rows = {k: json.dumps(v) if isinstance(v, (dict, list)) else str(v if v is not None else "")
                for k, v in detail.items()}
        if fault:
            rows["fault"] = (f"{fault['code']} {fault['message']} (at {fault['created']} on "
                             f"{fault['host'] or '-'}, {fault['request_id'] or '-'})")
        _put(self.query_one("#fields", DataTable), {k: (k, v) for k, v in rows.items()})
        _put(self.query_one("#history", DataTable), {
            f"{n}:{a['request_id']}": (a["action"], a["request_id"], _t(a["start_time"]),
                                       _t(a["finish_time"]), a["message"] or "",
                                       ", ".join(f"{e['event']}:{e['result']}" for e in a["events"]))
            for n, a in enumerate(actions)})
        self.refresh_bindings()  # what the keys can do follows the instance's state

    @on(DataTable.RowSelected, "#history")
    def _trace(self, event: DataTable.RowSelected) -> None:
        """Enter on an action: back to the main screen with the panes showing that request."""
        request = event.data_table.get_row(event.row_key)[1]
        self.app.main.logs.narrow(request=request)
        self.app.pop_screen()
        self.app.notify(f"log panes: {request} (Esc shows every line)")

    # -- actions on this instance --------------------------------------------------------
    @contextmanager
    def _acting(self):
        """The main screen's actions, aimed at this instance (not its table's selection)."""
        main = self.app.main
        main.acting_on = [self._row() or self.inst]
        try:
            yield main
        finally:
            main.acting_on = None

    def _why_not(self, entry: KeyAction) -> str | None:
        with self._acting() as main:
            return main.why_not(entry)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action != "act":
            return True
        return True if self._why_not(ACTION_KEYS[parameters[0]]) is None else None

    def action_act(self, key: str) -> None:
        with self._acting() as main:
            main.run_instance_action(ACTION_KEYS[key])
        self.refresh_bindings()

    def on_key(self, event: Key) -> None:
        """A dimmed action key reaches here instead of its action: say why."""
        entry = ACTION_KEYS.get(event.character or "") or ACTION_KEYS.get(event.key.capitalize())
        if entry is not None:
            why = self._why_not(entry)
            if why is not None:
                self.notify(why, title=entry.label, severity="warning")
                event.stop()


def _put(table: DataTable, rows: dict[str, tuple]) -> None:
    """Rows in place: changed cells updated, new rows added, gone rows removed."""
    for key in [k.value for k in table.rows if k.value not in rows]:
        table.remove_row(key)
    for key, cells in rows.items():
        try:
            old = table.get_row(key)
        except RowDoesNotExist:
            table.add_row(*cells, key=key)
            continue
        for column, before, after in zip(table.columns, old, cells):
            if before != after:
                table.update_cell(key, column, after, update_width=True)


def _t(ts):
    return "" if ts is None else time.strftime("%H:%M:%S", time.localtime(ts))
