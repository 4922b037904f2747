"""The main screen: hosts, instances and the log panes, with a key for every action.

Keys come from the registry. A key whose action the state table does not allow for the
selected instance is dimmed in the footer; pressed anyway, it sends nothing and says why.
"""
from __future__ import annotations

import re

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Key
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input

from core.actions import ACTIONS, Action

from ..registry import ARGUMENTS, BY_KEY, REGISTRY, KeyAction
from ..widgets.hosts_table import HostsTable
from ..widgets.instances_table import InstancesTable
from ..widgets.log_panes import LogPanes
from .detail import DetailScreen
from .dialogs import ArgumentDialog, ConfirmDialog, LaunchDialog
from .help import HelpScreen
from .quit import QuitDialog


class MainScreen(Screen):
    BINDINGS = [Binding(e.binding_key, f"key({e.key!r})", e.label, show=e.show, id=e.id)
                for e in REGISTRY if e.key] + [Binding("tab", "app.focus_next", "next pane", show=False)]

    def compose(self) -> ComposeResult:
        yield Header()
        yield HostsTable(id="hosts")
        yield InstancesTable(id="instances")
        yield LogPanes(id="logs")
        yield Input(placeholder="regex filter (! prefix inverts) - Enter applies, Esc cancels",
                    id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.filter_target: DataTable | None = None
        self.scope_host: str | None = None  # Enter on a host row shows only its instances
        self.query_one("#filter").display = False
        self.instances.focus()

    @property
    def instances(self) -> InstancesTable:
        return self.query_one(InstancesTable)

    @property
    def hosts(self) -> HostsTable:
        return self.query_one(HostsTable)

    @property
    def logs(self) -> LogPanes:
        return self.query_one(LogPanes)

    # -- engine updates (called by the app on the UI thread) ---------------------------
    def apply(self, instances: list[dict], hosts: list[dict]) -> None:
        if hosts:
            self.hosts.upsert(hosts, "name")
            down = {h["name"] for h in self.hosts.records.values() if h["state"] != "up"}
            if down != self.instances.down_hosts:
                self.instances.down_hosts = down
                self.instances.rerender()
        if instances:
            self.instances.upsert(instances, "uuid")
            # The footer depends on the selected (or marked) rows only; refreshing it
            # rebuilds its keys, so only when one of those changed.
            table = self.instances
            watched = table.marked | {table.selected_key}
            if any(i["uuid"] in watched for i in instances):
                self.refresh_bindings()

    # -- which instances an action applies to ------------------------------------------
    def targets(self) -> list[dict]:
        table = self.instances
        if table.marked:
            return [table.records[k] for k in table.marked if k in table.records]
        return [table.selected] if table.selected else []

    def _why_not(self, entry: KeyAction) -> str | None:
        """None when the key can act now, else the reason it cannot."""
        if not entry.core:
            return None
        if self.app.read_only:
            return f"read-only console: '{entry.label}' is not allowed"
        if entry.core[0].name == "create":
            return None
        targets = self.targets()
        if not targets:
            return "select an instance first"
        reasons = [entry.resolve(t)[1] for t in targets]
        if all(r is not None for r in reasons):
            return str(reasons[0])
        return None

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action != "key":
            return True
        return True if self._why_not(BY_KEY[parameters[0]]) is None else None

    def on_key(self, event: Key) -> None:
        """A dimmed action key reaches here instead of its action: say why."""
        entry = BY_KEY.get(event.character or "") or BY_KEY.get(event.key.capitalize())
        if entry is not None and entry.core and not isinstance(self.focused, Input):
            why = self._why_not(entry)
            if why is not None:
                self.notify(why, title=entry.label, severity="warning")
                event.stop()

    @on(DataTable.RowHighlighted)
    def _selection_moved(self) -> None:
        self.refresh_bindings()

    @on(DataTable.RowSelected)
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        """Enter on a table row (DataTable keeps Enter for itself)."""
        event.stop()
        self.do_details()

    # -- actions -----------------------------------------------------------------------
    def action_key(self, key: str) -> None:
        entry = BY_KEY[key]
        if entry.core:
            self.run_instance_action(entry)
        else:
            getattr(self, f"do_{entry.id}")()

    def run_named(self, name: str) -> None:
        """From the command palette: an action of the core table by name."""
        entry = next(e for e in REGISTRY if any(a.name == name for a in e.core))
        self.run_instance_action(entry, only=ACTIONS[name])

    def run_instance_action(self, entry: KeyAction, only: Action | None = None) -> None:
        why = self._why_not(entry)
        if why is not None:
            self.notify(why, title=entry.label, severity="warning")
            return
        if entry.core[0].name == "create":
            self.app.push_screen(LaunchDialog(self.app.catalog), self._launch)
            return
        plan, refused = [], []
        for inst in self.targets():
            action, reason = (only, only.refusal(inst)) if only else entry.resolve(inst)
            (refused if reason else plan).append((inst, action, reason))
        for inst, _, reason in refused:
            self.notify(str(reason), title=f"{inst['name']}: not sent", severity="warning")
        if not plan:
            return
        first = plan[0][1]
        if first.name in ARGUMENTS:
            key, kind = ARGUMENTS[first.name]
            options = self._choices(kind)
            default = self._default(kind, plan[0][0])
            title = f"{first.name.replace('_', ' ').capitalize()} {', '.join(i['name'] for i, _, _ in plan)}: {key}"
            self.app.push_screen(ArgumentDialog(title, kind, options, default),
                                 lambda value: value and self._confirm(plan, {key: value}))
        else:
            self._confirm(plan, {})

    def _default(self, kind: str, inst: dict) -> str | None:
        if kind == "text":
            return f"{inst['name']}-snap"
        if kind == "flavors":  # the next flavor up: a resize must change flavor
            flavors = self.app.catalog["flavors"]
            names = [f["name"] for f in flavors]
            at = names.index(inst["flavor"]) if inst["flavor"] in names else -1
            return names[min(at + 1, len(names) - 1)]
        return inst.get("image")

    def _choices(self, kind: str) -> list[tuple[str, str]]:
        catalog = self.app.catalog
        if kind == "images":
            return [(i["name"], i["name"]) for i in catalog["images"]]
        if kind == "flavors":
            return [(f"{f['name']}  ({f['vcpus']} vCPU, {f['ram_mb']} MB, {f['disk_gb']} GB)", f["name"])
                    for f in catalog["flavors"]]
        return []

    def _confirm(self, plan, params: dict) -> None:
        if any(action.destructive for _, action, _ in plan):
            names = ", ".join(inst["name"] for inst, _, _ in plan)
            verb = plan[0][1].name.replace("_", " ")
            self.app.push_screen(ConfirmDialog(f"{verb.capitalize()} {names}?", verb, plan),
                                 lambda ok: ok and self._send(plan, params))
        else:
            self._send(plan, params)

    def _send(self, plan, params: dict) -> None:
        for inst, action, _ in plan:
            self.app.send(action.name, inst, **params)
        self.instances.marked.clear()
        self.instances.rerender([inst["uuid"] for inst, _, _ in plan])

    def _launch(self, request: dict | None) -> None:
        if request:
            self.app.launch(**request)

    # -- console actions (registry ids) ------------------------------------------------
    def _focused_table(self) -> DataTable:
        return self.hosts if self.focused is self.hosts else self.instances

    def do_details(self) -> None:
        if self.focused is self.hosts:
            host = self.hosts.selected_key
            table = self.instances
            self.scope_host = None if self.scope_host == host else host
            table.scope = None if self.scope_host is None else (lambda i, h=host: i.get("host") == h)
            table.refilter()
            self.notify(f"instances on {host}" if table.scope else "instances on every host")
        elif self.instances.selected:
            self.app.push_screen(DetailScreen(self.instances.selected))

    def do_filter(self) -> None:
        self.filter_target = self._focused_table()
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Submitted, "#filter")
    def _filter_entered(self, event: Input.Submitted) -> None:
        try:
            self.filter_target.set_pattern(event.value)
        except re.error as e:
            self.notify(f"bad regex {event.value!r}: {e}", severity="error")
            return
        event.input.display = False
        self.filter_target.focus()

    def do_problems(self) -> None:
        for table in (self.hosts, self.instances):
            table.problems_only = not table.problems_only
            table.refilter()
        self.notify("problems only" if self.instances.problems_only else "all rows")

    def do_mark(self) -> None:
        self.instances.toggle_mark()
        self.refresh_bindings()

    def do_sort(self) -> None:
        label = self._focused_table().cycle_sort()
        self.notify(f"sorted by {label}")

    def do_order(self) -> None:
        self._focused_table().reverse_sort()

    def do_follow_instance(self) -> None:
        inst = self.instances.selected
        if inst is None or self.logs.instance == inst["uuid"]:
            self.logs.narrow()
            self.notify("log panes: every line")
        else:
            self.logs.narrow(instance=inst["uuid"])
            self.notify(f"log panes: {inst['name']} only")

    def do_trace(self) -> None:
        inst = self.instances.selected
        request = inst and self.app.last_request.get(inst["uuid"])
        if not request:
            self.notify("no request seen for this instance yet", severity="warning")
            return
        self.logs.narrow(request=request)
        self.notify(f"log panes: {request}")

    def do_clear(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.display = False
            box.value = ""
            (self.filter_target or self.instances).focus()
            return
        for table in (self.hosts, self.instances):
            table.pattern, table.problems_only, table.scope = None, False, None
            table.marked.clear()
            table.refilter()
        self.scope_host = None
        self.logs.narrow()

    def do_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def do_quit(self) -> None:
        """A read-only console drives nothing: it quits at once. Otherwise quitting with a
        move in flight asks first: wait for it to come to rest, or leave it queued."""
        if self.app.read_only:
            self.app.exit()
        else:
            self._ask_in_flight()

    @work(thread=True, group="quit", exclusive=True)
    def _ask_in_flight(self) -> None:
        rows = self.app.engine.in_flight()
        self.app.call_from_thread(self._quit_or_ask, rows)

    def _quit_or_ask(self, rows: list[dict]) -> None:
        if not rows:
            self.app.quit_console(settle=True)
        elif self.app.screen is self:  # not asked twice
            self.app.push_screen(QuitDialog(rows), self._quit_answered)

    def _quit_answered(self, settle: bool | None) -> None:
        if settle is not None:
            self.app.quit_console(settle=settle)

