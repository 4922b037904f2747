"""Every key, from the registry."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from ..registry import REGISTRY


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Label("novatui keys — Esc closes; ctrl+p finds any action by name", classes="title")
            yield DataTable(cursor_type="row", id="help-table")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Key", "On", "Action", "What it does")
        for e in REGISTRY:
            note = " (asks first)" if e.destructive else ""
            where = e.view or "any view"
            table.add_row(e.key or "ctrl+p", where, e.label, e.description + note)
        table.focus()
