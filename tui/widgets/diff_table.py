"""A DataTable that takes records and changes rows in place: update_cell on the cells that
changed, add_row for new keys, remove_row only for rows that left; filters, sorting and
marks on top, with the cursor kept on the same record when rows move.

Columns fit their content, whatever path a cell took to change: each column's natural width
(its widest shown cell) is kept up to date, and the columns are laid out to the table's
width: columns in HIDE_ORDER are hidden first when the terminal is narrow, columns in
MIN_WIDTHS may be cut down to that width (their cells end in a visible "…"), and the first
column stays in place when the table scrolls sideways."""
from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from typing import Callable

from rich.cells import cell_len
from rich.text import Text
from textual.events import Resize
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets.data_table import RowDoesNotExist

from ..resting_timer import RestingTimer
from .fast_table import FastTable


SHRINK_SECONDS = 2.0
MANY_ROWS = 500   # a change this big makes its rows with the cyclic collector paused
FIRST_FILL = 200  # rows of a first fill made before its frame (more than a screen holds)


@contextmanager
def _collector_paused(rows: int, first_fill: bool = False):
    """Thousands of rows are tens of thousands of objects that live on (cells, rows): while
    they are made, the cyclic collector would walk the whole heap again and again, which
    took half of the time of 5,000 new rows. Nothing made here is garbage with cycles.

    The first fill's rows are frozen once made (as the console freezes its modules before
    it runs): else the collections that follow, at the first picture's allocations, walk
    them all again (80 ms of the profile of the first picture of 5,000 rows). A frozen
    object is still freed when nothing refers to it; only the first fill freezes, so what
    is alive later (a dialog's widgets, whose cycles a collection frees) is not kept."""
    pause = rows >= MANY_ROWS and gc.isenabled()
    if pause:
        gc.disable()
    try:
        yield
    finally:
        if pause:
            if first_fill:
                gc.freeze()
            gc.enable()


class SortText(Text):
    """A cell that sorts by a value of its own (an age by its timestamp, a load by its
    ratio) instead of by its text."""

    def __init__(self, text: str, sort_value, **kwargs) -> None:
        super().__init__(text, **kwargs)
        self.sort_value = sort_value


def _same(a, b) -> bool:
    return a == b and getattr(a, "style", None) == getattr(b, "style", None)


def _width(cell) -> int:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return len(text) if text.isascii() and text.isprintable() else cell_len(text)


class DiffTable(FastTable):
    COLUMNS: tuple[tuple[str, str], ...] = ()   # (column key, label); the first stays fixed
    HIDE_ORDER: tuple[str, ...] = ()              # hidden first when the table is too narrow
    MIN_WIDTHS: dict[str, int] = {}               # may be cut (ending in …) down to this
    WANT_WIDTHS: dict[str, int] = {}              # ...but columns are hidden before these are

    class ViewMoved(Message):
        """The rows in view (keys_in_view) changed."""
        def __init__(self, table: DiffTable, keys: frozenset[str]) -> None:
            super().__init__()
            self.table, self.keys = table, keys

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", fixed_columns=1, **kwargs)
        self._view_seen: tuple = ()
        self.records: dict[str, dict] = {}
        self._shown: dict[str, tuple] = {}
        self.pattern: re.Pattern | None = None
        self.invert = False
        self.problems_only = False
        self.scope: Callable[[dict], bool] | None = None   # e.g. the selected host
        self.sort_index: int | None = None
        self.sort_reverse = False
        self.marked: set[str] = set()
        self._keys = [k for k, _ in self.COLUMNS]
        self._natural = {k: cell_len(label) for k, label in self.COLUMNS}
        self._stale: set[str] = set()        # columns whose widest cell may have shrunk
        self.shown_columns: list[str] = list(self._keys)
        self._later: dict[str, None] = {}   # a first fill's rows to make after its frame
        self._laid_width = 0   # the width the layout last gave

    def on_mount(self) -> None:
        for key, label in self.COLUMNS:
            self.add_column(label, key=key, width=self._natural[key])
        self.shrink_timer = RestingTimer(self, SHRINK_SECONDS, self._shrink)

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

    def view_signature(self) -> tuple:
        """What keys_in_view depends on, cheap to compare: the scroll, the height, the
        cursor, the rows' order and the marks."""
        return (int(self.scroll_y), self.size.height, self.cursor_coordinate.row,
                self._order_version, self.row_count, frozenset(self.marked))

    def render_lines(self, crop: Region) -> list[Strip]:
        """Whatever moves the view (a scroll, a resize, the cursor, a sort, a filter, a
        mark) repaints the table, and a calm table paints nothing: so the view is looked at
        here, at no cost when idle, rather than on a timer."""
        if (seen := self.view_signature()) != self._view_seen:
            self._view_seen = seen
            # Told from the table's own turn: a message made while the screen paints would
            # name the screen as its sender, and stop there.
            self.call_later(lambda: self.post_message(self.ViewMoved(self, self.keys_in_view())))
        return super().render_lines(crop)

    def rows_on_screen(self) -> list:
        top = int(self.scroll_y)
        return self.ordered_rows[top:top + self.size.height]

    def keys_in_view(self) -> frozenset[str]:
        """The rows on screen, the cursor's and the marked ones: those whose changes must
        show at once (the others may wait for the next tick)."""
        keys = {row.key.value for row in self.rows_on_screen()}
        keys.update(self.marked)
        if (selected := self.selected_key) is not None:
            keys.add(selected)
        return frozenset(keys)

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

    def shown_cells(self, key: str) -> tuple:
        """Every column's cell of a shown row, hidden columns included."""
        return self._shown[key]

    # -- changing ----------------------------------------------------------------------
    def upsert(self, records: list[dict], key_field: str) -> None:
        """Apply changed records (vm_state 'deleted' or a `None` value removes)."""
        changed = []
        for record in records:
            key = record[key_field]
            known = self.records.get(key)
            if known is not None and (record.get("updated_at") or 0) < (known.get("updated_at") or 0):
                continue  # an older copy (a poll that crossed an event): keep the newer
            if known == record:
                continue  # the same (a snapshot after the first picture): nothing to redo
            if record.get("deleted_at"):
                self.records.pop(key, None)
                self.marked.discard(key)
            else:
                self.records[key] = record
            changed.append(key)
        if self._later:   # rows still to be made are made from their newest record then
            changed = [key for key in changed if key not in self._later]
        elif not self.row_count and self.sort_index is None and len(changed) > FIRST_FILL:
            # The first fill of thousands of rows: the first screens' rows in its frame, the
            # others right after (a row costs 40 us to make: 200 ms of the first picture at
            # 5,000). Their order is the same; a column may widen when they come.
            self._later = dict.fromkeys(changed[FIRST_FILL:])
            changed = changed[:FIRST_FILL]
            self.call_after_refresh(self._make_later)
        self._sync(changed)

    def _make_later(self) -> None:
        later, self._later = self._later, {}
        self._sync([key for key in later if key not in self._shown])   # a refilter made all

    @property
    def shown_count(self) -> int:
        """The rows shown, a first fill's rows still to be made included."""
        return self.row_count + sum(1 for key in self._later if key in self.records)

    def keep_only(self, keys: set[str]) -> None:
        """A full picture came (a snapshot after a reconnection): rows not in it are gone."""
        gone = [key for key in self.records if key not in keys]
        for key in gone:
            del self.records[key]
            self.marked.discard(key)
        if gone:
            self._sync(gone)

    def _cells(self, record: dict) -> tuple:
        cells = self.cells(record)
        for cell in cells:
            if isinstance(cell, Text):
                cell.no_wrap, cell.overflow = True, "ellipsis"
        return cells

    def _row(self, cells: tuple) -> list:
        return [cells[self._keys.index(k)] for k in self.shown_columns]

    def _measure(self, col: str, after, before=None) -> None:
        width = _width(after)
        if width > self._natural[col]:
            self._natural[col] = width
        elif before is not None and _width(before) == self._natural[col] and width < self._natural[col]:
            self._stale.add(col)

    def _measure_new(self, cells: tuple) -> None:
        """_measure of a new row's every cell (thousands of them at the first picture)."""
        natural = self._natural
        for col, cell in zip(self._keys, cells):
            width = _width(cell)
            if width > natural[col]:
                natural[col] = width

    def _sync(self, keys) -> None:
        cursor = self.selected_key
        moved = False
        sort_col = None if self.sort_index is None else self._keys[self.sort_index]
        added = []   # new rows go in at once, below the others, as one by one they would
        with self.app.batch_update(), _collector_paused(len(keys), first_fill=not self.row_count):
            for key in keys:
                record = self.records.get(key)
                cells = None if record is None else self._cells(record)
                show = cells is not None and self.visible(record, cells)
                old = self._shown.get(key)
                if old is not None and not show:
                    self.remove_row(key)
                    del self._shown[key]
                    self._stale.update(c for c, cell in zip(self._keys, old)
                                       if _width(cell) == self._natural[c])
                    moved = True
                elif old is not None:
                    kept = []  # the table's own cell objects where nothing changed
                    for col, before, after in zip(self._keys, old, cells):
                        if _same(before, after):
                            kept.append(before)
                            continue
                        kept.append(after)
                        if col in self.shown_columns:
                            self.update_cell(key, col, after)
                        self._measure(col, after, before)
                        moved = moved or col == sort_col
                    self._shown[key] = tuple(kept)
                elif show:
                    self._measure_new(cells)
                    added.append((key, self._row(cells)))
                    self._shown[key] = cells
                    moved = True
            self.add_keyed_rows(added)
            if moved and self.sort_index is not None:
                self._sort()
            if moved and cursor is not None and cursor in self._shown:
                self._cursor_to(cursor)
            self.fit_columns(shrink=False)

    def set_cells(self, col: str, new: dict[str, Text]) -> None:
        """One column's cells of some shown rows, and nothing else (ages, every second)."""
        at = self._keys.index(col)
        with self.app.batch_update():
            for key, cell in new.items():
                old = self._shown[key]
                cell.no_wrap, cell.overflow = True, "ellipsis"
                if col in self.shown_columns:
                    self.update_cell(key, col, cell)
                self._measure(col, cell, old[at])
                self._shown[key] = old[:at] + (cell,) + old[at + 1:]
            if new and self.sort_index == at:
                self._sort()
            self.fit_columns(shrink=False)

    def refilter(self) -> None:
        """Filters changed: rebuild once, keeping the cursor on its record."""
        self._shown = {}
        with _collector_paused(len(self.records)):
            for key, record in self.records.items():
                cells = self._cells(record)
                if self.visible(record, cells):
                    self._shown[key] = cells
            self._stale = set(self._keys)
            self._rebuild()

    def rerender(self, keys=None) -> None:
        self._sync(list(self.records) if keys is None else keys)

    # -- fitting the columns to the width ----------------------------------------------
    def _size_updated(self, size, virtual_size, container_size, layout: bool = True) -> bool:
        """The columns fitted to a new width as the layout hands it over, before the frame
        is drawn: Resize comes after that frame, which would be drawn with the old widths
        and then again (the first picture's table twice, 60-80 ms at 1,000 rows)."""
        resized = super()._size_updated(size, virtual_size, container_size, layout)
        if size.width != self._laid_width:   # not at every layout: a fit may scan every row
            self._laid_width = size.width
            self.fit_columns()
        return resized

    def on_resize(self, _: Resize) -> None:
        self.fit_columns()

    def _available(self) -> int:
        width, height = self.content_size
        rows = self.row_count + (1 if self.show_header else 0)
        return width - (self.styles.scrollbar_size_vertical if rows > height else 0)

    def layout_for(self, width: int) -> tuple[list[str], dict[str, int]]:
        """Which columns show at this width, and how wide each is."""
        pad = 2 * self.cell_padding
        natural = self._natural
        least = {k: min(natural[k], self.MIN_WIDTHS.get(k, natural[k])) for k in self._keys}
        want = {k: max(least[k], min(natural[k], self.WANT_WIDTHS.get(k, 0))) for k in self._keys}
        shown = list(self._keys)
        for col in self.HIDE_ORDER:
            if sum(want[k] + pad for k in shown) <= width:
                break
            shown.remove(col)
        widths = {k: least[k] for k in shown}
        spare = width - sum(w + pad for w in widths.values())
        for k in shown:  # the cut columns get their room back, left to right
            extra = max(0, min(spare, natural[k] - widths[k]))
            widths[k] += extra
            spare -= extra
        return shown, widths

    def _remeasure(self) -> None:
        for col in self._stale:
            at = self._keys.index(col)
            self._natural[col] = max([cell_len(self.COLUMNS[at][1])]
                                     + [_width(c[at]) for c in self._shown.values()])
        self._stale.clear()

    def _shrink(self) -> None:
        if self._stale:
            self.fit_columns()
        self.shrink_timer.rest()   # until a column may shrink again

    def fit_columns(self, shrink: bool = True) -> None:
        """Lay the columns out to the width. A column grows at once; it shrinks (a scan of
        every row) only here with shrink, SHRINK_SECONDS after a widest cell first changed:
        columns do not jump while tasks come and go, and a burst of changes costs no new
        layout of the screen."""
        if shrink:
            self._remeasure()
        elif self._stale:
            self.shrink_timer.due()
        if not self.columns:
            return
        width = self._available()
        if width > 0:
            shown, widths = self.layout_for(width)
        else:   # not laid out yet: rows must not paint under their labels' widths
            shown, widths = self.shown_columns, self._natural   # (on_resize fits them)
        if shown != self.shown_columns:
            self._rebuild(shown, widths)
            return
        changed = False
        for key in shown:
            column = self.columns[key]
            if column.width != widths[key] or column.auto_width:
                column.width, column.auto_width = widths[key], False
                changed = True
        if changed:
            self._clear_caches()
            self._require_update_dimensions = True
            self.refresh()

    def _rebuild(self, shown: list[str] | None = None, widths: dict[str, int] | None = None) -> None:
        if shown is None:
            self._remeasure()
            width = self._available()
            shown, widths = self.layout_for(width) if width > 0 else (self._keys, self._natural)
        cursor = self.selected_key
        labels = dict(self.COLUMNS)
        with self.app.batch_update(), _collector_paused(len(self._shown)):
            self.clear(columns=True)
            self.shown_columns = list(shown)
            for key in shown:
                self.add_column(labels[key], key=key, width=widths[key])
            self.add_keyed_rows([(key, self._row(cells)) for key, cells in self._shown.items()])
            if self.sort_index is not None:
                self._sort()
            if cursor in self._shown:
                self._cursor_to(cursor)

    # -- sorting and marks -------------------------------------------------------------
    def _cursor_to(self, key: str) -> None:
        try:
            self.move_cursor(row=self.get_row_index(key), animate=False, scroll=False)
        except RowDoesNotExist:
            pass

    def _sort(self) -> None:
        """By the full cell of the sort column, shown or hidden: the rows' first cells
        (always shown) say which record each row is."""
        at = self.sort_index
        by_first = {id(cells[0]): _sort_key(cells[at]) for cells in self._shown.values()}
        self.sort(self._keys[0], key=lambda first: by_first[id(first)], reverse=self.sort_reverse)

    def sort_by(self, col: str, reverse: bool | None = None) -> None:
        """Sort by a column key (hidden or not); `reverse` None keeps the direction."""
        self.sort_index = self._keys.index(col)
        if reverse is not None:
            self.sort_reverse = reverse
        self.refilter()

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
    if hasattr(value, "sort_value"):
        return (0, value.sort_value, "")
    text = value.plain if isinstance(value, Text) else str(value)
    head = text.split("/")[0].strip()
    try:
        return (0, float(head), text)
    except ValueError:
        return (1, 0.0, text.lower())
