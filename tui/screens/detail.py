"""An instance in full: fields, addresses, the last fault, the action history and the
domain XML. Everything is read off the UI thread."""
from __future__ import annotations

import json

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Static, TabbedContent, TabPane

from core.views import server_detail


class DetailScreen(Screen):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "back")]

    def __init__(self, inst: dict) -> None:
        super().__init__()
        self.inst = inst

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(f"{self.inst['name']}  {self.inst['uuid']}", classes="title")
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
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        engine = self.app.engine
        inst = engine.store.get_instance(self.inst["uuid"]) or self.inst
        detail = server_detail(inst, engine.fault(inst["uuid"]), engine.config.network_name)
        flavor = engine.config.flavors.get(inst["flavor"])
        if flavor:
            detail["flavor"] = f"{flavor.name} ({flavor.vcpus} vCPU, {flavor.ram_mb} MB RAM, {flavor.disk_gb} GB disk)"
        actions = engine.store.list_actions(inst["uuid"])
        future = engine.domain_xml(inst)
        self.app.call_from_thread(self._show, detail, actions)
        xml = "the domain is not defined on a host this console drives"
        if future is not None:
            try:
                xml = future.result(timeout=10) or "no domain on the host"
            except Exception as e:  # noqa: BLE001 - shown, not raised
                xml = f"could not read the domain XML: {e}"
        self.app.call_from_thread(self.query_one("#xml-text", Static).update, xml)

    @on(DataTable.RowSelected, "#history")
    def _trace(self, event: DataTable.RowSelected) -> None:
        """Enter on an action: back to the main screen with the panes showing that request."""
        request = event.data_table.get_row(event.row_key)[1]
        self.app.main.logs.narrow(request=request)
        self.app.pop_screen()
        self.app.notify(f"log panes: {request} (Esc shows every line)")

    def _show(self, detail: dict, actions: list[dict]) -> None:
        fields = self.query_one("#fields", DataTable)
        fault = detail.pop("fault")
        for key, value in detail.items():
            fields.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value if value is not None else ""))
        if fault:
            fields.add_row("fault", f"{fault['code']} {fault['message']} (at {fault['created']} on "
                                    f"{fault['host'] or '-'}, {fault['request_id'] or '-'})")
        history = self.query_one("#history", DataTable)
        for a in actions:
            history.add_row(a["action"], a["request_id"], _t(a["start_time"]), _t(a["finish_time"]),
                            a["message"] or "", ", ".join(f"{e['event']}:{e['result']}" for e in a["events"]))


def _t(ts):
    import time
    return "" if ts is None else time.strftime("%H:%M:%S", time.localtime(ts))
