"""The main screen's view keys: filters, problems only, marks, sorting, moving the cursor,
the log panes (narrowing, wrap, zoom, level), help and quit. What holds is shown in the
tables' and panes' titles, not only in a toast."""
from __future__ import annotations

import re

from textual import work
from textual.widgets import DataTable, Input

from ..registry import HOSTS, SORT_KEYS, KeyAction
from ..widgets.diff_table import DiffTable

# The screens a key opens are imported when first opened: they and the Textual widgets only
# they use (tabs, selects, buttons) are not the first picture's (10-20 ms of the start).


def _table_state(table: DiffTable, noun: str, extra: list[str]) -> str:
    shown, total = table.shown_count, len(table.records)
    parts = [f"{noun} {shown}/{total}" if shown != total else f"{noun} {total}"] + extra
    if table.pattern is not None:
        parts.append(f"filter {'!' if table.invert else ''}/{table.pattern.pattern}/")
    if table.problems_only:
        parts.append("problems only")
    if table.sort_index is not None:
        label = table.COLUMNS[table.sort_index][1]
        parts.append(f"sort {label} {'▼' if table.sort_reverse else '▲'}")
    if table.marked:
        parts.append(f"{len(table.marked)} marked")
    return " · ".join(parts)


class ViewMixin:
    def update_titles(self) -> None:
        if not self.children:   # not composed yet (in on_mount it is: the first rows' titles
            return              # go into the first frame, not into a repaint after it)
        scope = [f"host {self.scope_host} (Enter on it again: all)"] if self.scope_host else []
        for widget, title in ((self.instances, _table_state(self.instances, "instances", scope)),
                              (self.hosts, _table_state(self.hosts, "hosts", [])),
                              (self.logs, self.logs.state_text())):
            if widget.border_title != title:   # setting one repaints the whole widget
                widget.border_title = title

    def _focused_table(self) -> DiffTable:
        return self.hosts if self.view == HOSTS else self.instances

    def do_details(self) -> None:
        if self.instances.selected:
            from .detail import DetailScreen
            self.app.push_screen(DetailScreen(self.instances.selected))

    # -- filters -----------------------------------------------------------------------
    def do_filter(self) -> None:
        self.filter_target = self._focused_table()
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "filter":
            return
        try:
            self.filter_target.set_pattern(event.value)
        except re.error as e:
            self.toast(f"bad regex {event.value!r}: {e}", severity="error")
            return
        event.input.display = False
        self.filter_target.focus()
        self.update_titles()

    def do_problems(self) -> None:
        for table in (self.hosts, self.instances):
            table.problems_only = not table.problems_only
            table.refilter()
        self.update_titles()

    def do_mark(self) -> None:
        self.instances.toggle_mark()
        self.update_titles()
        self.refresh_keys()

    # -- sorting and moving --------------------------------------------------------------
    def do_sort_column(self, entry: KeyAction) -> None:
        table = self._focused_table()
        view = HOSTS if table is self.hosts else "instances"
        column = next((c for k, c in SORT_KEYS[view].items() if k == entry.key), None)
        keys = [k for k, _ in table.COLUMNS]
        if column not in keys:
            self.toast(f"no {column} column here", severity="warning")
            return
        index = keys.index(column)
        if table.sort_index == index:
            table.sort_reverse = not table.sort_reverse
        else:
            table.sort_index, table.sort_reverse = index, False
        table.refilter()
        self.update_titles()

    def do_order(self) -> None:
        self._focused_table().reverse_sort()
        self.update_titles()

    def _move(self, row: int) -> None:
        table = self.focused
        if isinstance(table, DataTable) and table.row_count:
            table.move_cursor(row=max(0, min(row, table.row_count - 1)))

    def do_down(self) -> None:
        if isinstance(self.focused, DataTable):
            self.focused.action_cursor_down()

    def do_up(self) -> None:
        if isinstance(self.focused, DataTable):
            self.focused.action_cursor_up()

    def do_first(self) -> None:
        self._move(0)

    def do_last(self) -> None:
        if isinstance(self.focused, DataTable):
            self._move(self.focused.row_count - 1)

    do_first_home, do_last_end = do_first, do_last

    # -- log panes -----------------------------------------------------------------------
    def do_follow_instance(self) -> None:
        inst = self.instances.selected
        if inst is None or self.logs.instance == inst["uuid"]:
            self.logs.narrow()
        else:
            self.logs.narrow(instance=inst["uuid"])

    def do_trace(self) -> None:
        inst = self.instances.selected
        request = inst and self.app.last_request.get(inst["uuid"])
        if not request:
            self.toast("no request seen for this instance yet", severity="warning")
            return
        self.logs.narrow(request=request)

    def do_wrap(self) -> None:
        self.logs.toggle_wrap()

    def do_level(self) -> None:
        self.logs.next_level()

    def do_zoom(self) -> None:
        zoomed = not self.has_class("logs-zoomed")
        self.set_class(zoomed, "logs-zoomed")
        if zoomed:
            self.query_one("#log-" + self.logs.active_pane).focus()
        else:
            self.instances.focus()
        self.update_titles()

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
        self.update_titles()
        self.refresh_keys()

    # -- help and quit -------------------------------------------------------------------
    def do_help(self) -> None:
        from .help import HelpScreen
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
        rows = self.app.in_flight()
        self.app.call_from_thread(self._quit_or_ask, rows)

    def _quit_or_ask(self, rows: list[dict]) -> None:
        if not rows:
            self.app.quit_console(settle=True)
        elif self.app.screen is self:  # not asked twice
            from .quit import QuitDialog
            self.app.push_screen(QuitDialog(rows), self._quit_answered)

    def _quit_answered(self, settle: bool | None) -> None:
        if settle is not None:
            self.app.quit_console(settle=settle)
