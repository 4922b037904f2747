"""A DataTable that takes records and changes rows in place: update_cell on the cells that
changed, add_row for new keys, remove_row only for rows that left; filters, sorting and
marks on top, with the cursor kept on the same record when rows move."""
from __future__ import annotations

import re
from typing import Callable

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist


class DiffTable(DataTable):
    COLUMNS: tuple[tuple[str, str], ...] = ()   # (column key, label)
    WIDTHS: dict[str, int] = {}                   # fixed widths for cells that change length

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.records: dict[str, dict] = {}
        self._shown: dict[str, tuple] = {}
        self.pattern: re.Pattern | None = None
        self.invert = False
        self.problems_only = False
        self.scope: Callable[[dict], bool] | None = None   # e.g. the selected host
        self.sort_index: int | None = None
        self.sort_reverse = False
        self.marked: set[str] = set()

    def on_mount(self) -> None:
        for key, label in self.COLUMNS:
            self.add_column(label, key=key, width=self.WIDTHS.get(key))

    # -- subclasses --------------------------------------------------------------------
    def cells(self, record: dict) -> tuple:
        raise NotImplementedError

    def is_problem(self, record: dict) -> bool:
        return False

    # -- reading -----------------------------------------------------------------------
    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except RowDoesNotExist:
            return None

    @property
    def selected(self) -> dict | None:
        key = self.selected_key
        return None if key is None else self.records.get(key)

    def visible(self, record: dict, cells: tuple) -> bool:
        if self.scope is not None and not self.scope(record):
            return False
        if self.problems_only and not self.is_problem(record):
            return False
        if self.pattern is not None:
            hit = bool(self.pattern.search(" ".join(str(c) for c in cells)))
            if hit == self.invert:
                return False
        return True

    # -- changing ----------------------------------------------------------------------
    def upsert(self, records: list[dict], key_field: str) -> None:
        """Apply changed records (vm_state 'deleted' or a `None` value removes)."""
        changed = []
        for record in records:
            key = record[key_field]
            known = self.records.get(key)
            if known is not None and (record.get("updated_at") or 0) < (known.get("updated_at") or 0):
                continue  # an older copy (a poll that crossed an event): keep the newer
            if record.get("deleted_at"):
                self.records.pop(key, None)
                self.marked.discard(key)
            else:
                self.records[key] = record
            changed.append(key)
        self._sync(changed)

    def _sync(self, keys) -> None:
        cursor = self.selected_key
        moved = False
        with self.app.batch_update():
            for key in keys:
                record = self.records.get(key)
                cells = None if record is None else self.cells(record)
                show = cells is not None and self.visible(record, cells)
                old = self._shown.get(key)
                if old is not None and not show:
                    self.remove_row(key)
                    del self._shown[key]
                    moved = True
                elif old is not None:
                    for (col, _), before, after in zip(self.COLUMNS, old, cells):
                        if before != after:
                            self.update_cell(key, col, after)
                            moved = moved or self.sort_index is not None
                    self._shown[key] = cells
                elif show:
                    self.add_row(*cells, key=key)
                    self._shown[key] = cells
                    moved = True
            if moved and self.sort_index is not None:
                self._sort()
            if moved and cursor is not None and cursor in self._shown:
                self._cursor_to(cursor)

    def refilter(self) -> None:
        """Filters changed: rebuild once, keeping the cursor on its record."""
        cursor = self.selected_key
        with self.app.batch_update():
            self.clear()
            self._shown.clear()
            for key, record in self.records.items():
                cells = self.cells(record)
                if self.visible(record, cells):
                    self.add_row(*cells, key=key)
                    self._shown[key] = cells
            if self.sort_index is not None:
                self._sort()
            if cursor in self._shown:
                self._cursor_to(cursor)

    def rerender(self, keys=None) -> None:
        self._sync(list(self.records) if keys is None else keys)

    def _cursor_to(self, key: str) -> None:
        try:
            self.move_cursor(row=self.get_row_index(key), animate=False, scroll=False)
        except RowDoesNotExist:
            pass

    def _sort(self) -> None:
        col = self.COLUMNS[self.sort_index][0]
        self.sort(col, key=_sort_key, reverse=self.sort_reverse)

    def cycle_sort(self) -> str:
        self.sort_index = 0 if self.sort_index is None else (self.sort_index + 1) % len(self.COLUMNS)
        self.refilter()
        return self.COLUMNS[self.sort_index][1]

    def reverse_sort(self) -> None:
        if self.sort_index is None:
            self.sort_index = 0
        self.sort_reverse = not self.sort_reverse
        self.refilter()

    def toggle_mark(self) -> None:
        key = self.selected_key
        if key is None:
            return
        self.marked.symmetric_difference_update({key})
        self._sync([key])

    def set_pattern(self, text: str) -> None:
        """A regex; a leading ! inverts it. Raises re.error on a bad pattern."""
        self.invert = text.startswith("!")
        body = text[1:] if self.invert else text
        self.pattern = re.compile(body, re.IGNORECASE) if body else None
        self.refilter()


def _sort_key(value) -> tuple:
    text = value.plain if isinstance(value, Text) else str(value)
    head = text.split("/")[0].strip().rstrip("smhd")
    try:
        return (0, float(head), text)
    except ValueError:
        return (1, 0.0, text.lower())
