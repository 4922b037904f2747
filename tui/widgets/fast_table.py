"""A DataTable whose costs do not grow with its number of rows.

Textual's DataTable repaints the whole table for one changed cell, walks every row to order
them and to find a row's line after any change (its caches are keyed on a counter that
every cell update bumps), and measures every cell of every new row for column widths. At
5,000 rows that is most of the console's CPU while instances change.

Here every row is one line high and the subclass sets the column widths itself (DiffTable
measures what it shows), so: a changed cell repaints its row's line only; the row order
and the line offsets are rebuilt only when rows are added, removed or sorted; a row's line
is its index; new rows are not measured; many rows are added at once (add_keyed_rows)
with the per-row work of add_row (the cursor's reactive and its watcher, an idle check, a
list of the columns) done once: 5,000 rows take a few milliseconds, not half a second.

What this reaches into (DataTable's internals as of Textual 8.2): _row_locations, _data,
rows, _update_count, _require_update_dimensions, _highlight_cursor, _cell_render_cache,
_y_offsets, _total_row_height, _get_row_region, _update_dimensions, _render_cell,
_get_styles_to_render_cell, _show_hover_cursor, _pseudo_class_state. They stay in this
file; DiffTable above it uses DataTable's public API only.

A cell that is one line of Text which fits its column is rendered here as the segments
Rich's pipeline would give (left pad, the text's own segments, the pad to the width, right
pad, the row's and the component's styles around each): DataTable sends each cell through
console.render_lines (Padding in Styled, options, line splitting), about 0.1 ms a cell,
more than half of the first picture of a full screen (550 cells; bench/table_render.py).
Any other cell (a header, a string, wrapped or cut text, a tab) goes through DataTable's
own _render_cell; tests/tui/test_fast_table_guard.py checks the two agree cell by cell."""
from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, DuplicateKey, Row, RowKey


CELL_CACHE = 2000   # a few screenfuls of rendered cells


class FastTable(DataTable):
    def __init__(self, **kwargs) -> None:
        self._order_version = 0   # before DataTable's own __init__, which reads the order
        self._ordered_for: tuple[int, int] | None = None
        self._ordered: list = []
        self._offsets: list = []
        super().__init__(**kwargs)
        self._cell_render_cache = LRUCache(CELL_CACHE)   # DataTable's keeps 10,000 cells

    # -- what changes the order ------------------------------------------------------------
    def add_row(self, *cells, height: int | None = 1, key: str | None = None, label=None):
        self._order_version += 1
        return super().add_row(*cells, height=1, key=key, label=label)

    def add_keyed_rows(self, rows: list[tuple[str, list]]) -> None:
        """Rows (key, cells: one per column, in the columns' order) at the bottom, as
        add_row would add them one by one."""
        if not rows:
            return
        columns = [column.key for column in self.ordered_columns]
        locations, data, table_rows = self._row_locations, self._data, self.rows
        was_empty = not table_rows
        for index, (key, cells) in enumerate(rows, start=len(table_rows)):
            row_key = RowKey(key)
            if row_key in locations:
                raise DuplicateKey(f"The row key {row_key!r} already exists.")
            locations[row_key] = index
            data[row_key] = dict(zip(columns, cells))
            table_rows[row_key] = Row(row_key, 1)
        self._order_version += 1
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate   # clamped into the rows
        if was_empty and self.columns and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()   # a cursor can show now: RowHighlighted, as add_row
        self._update_count += 1
        self.check_idle()

    def remove_row(self, row_key) -> None:
        self._order_version += 1
        super().remove_row(row_key)

    def clear(self, columns: bool = False):
        self._order_version += 1
        return super().clear(columns)

    def sort(self, *columns, key=None, reverse: bool = False):
        self._order_version += 1
        return super().sort(*columns, key=key, reverse=reverse)

    # -- order and lines from the version, not from every cell update --------------------
    def _order(self) -> None:
        version = (self.row_count, self._order_version)
        if self._ordered_for != version:
            key_at = self._row_locations.get_key
            self._ordered = [self.rows[key_at(i)] for i in range(self.row_count)]
            self._offsets = [(row.key, 0) for row in self._ordered]
            self._ordered_for = version

    @property
    def ordered_rows(self) -> list:
        self._order()
        return self._ordered

    @property
    def _y_offsets(self) -> list:
        self._order()
        return self._offsets

    @property
    def _total_row_height(self) -> int:
        return self.row_count

    def _get_row_region(self, row_index: int) -> Region:
        if not self.is_valid_row_index(row_index):
            return Region(0, 0, 0, 0)
        width = sum(c.get_render_width(self) for c in self.columns.values())
        y = row_index + (self.header_height if self.show_header else 0)
        return Region(0, y, max(self.size.width, width + self._row_label_column_width), 1)

    # -- a cell repaints its row -------------------------------------------------------
    def update_cell(self, row_key, column_key, value, *, update_width: bool = False) -> None:
        row_key = RowKey(row_key) if isinstance(row_key, str) else row_key
        column_key = ColumnKey(column_key) if isinstance(column_key, str) else column_key
        if row_key not in self._row_locations or column_key not in self._column_locations:
            raise CellDoesNotExist(f"No cell exists for row_key={row_key!r}, "
                                   f"column_key={column_key!r}.")
        self._data[row_key][column_key] = value
        self._update_count += 1   # the render caches' key: this row renders anew
        index = self._row_locations.get(row_key)
        top = int(self.scroll_y)
        if top - 1 <= index <= top + self.size.height:   # refresh_row's region: on screen only
            self.refresh_row(index)

    # -- a cell of one line: its segments without Rich's render pipeline -----------------
    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> list:
        if row_index < 0 or column_index < 0:   # the header, a row label
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        cache_key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor,
                     self._update_count, self._pseudo_class_state)   # DataTable's own key
        lines = self._cell_render_cache.get(cache_key)
        if lines is None:
            line = self._one_line(self._data[row_key].get(column_key), row_index, column_index,
                                  base_style, width, cursor, hover)
            if line is None:
                return super()._render_cell(row_index, column_index, base_style, width,
                                            cursor, hover)
            lines = self._cell_render_cache[cache_key] = [line]
        return lines

    def _one_line(self, cell, row_index: int, column_index: int, base_style: Style, width: int,
                  cursor: bool, hover: bool) -> list[Segment] | None:
        """The cell's line, or None when it is not a Text of one line that fits."""
        if not isinstance(cell, Text) or cell.justify not in (None, "default"):
            return None
        plain = cell.plain
        pad = self.cell_padding
        room = width - 2 * pad
        length = cell.cell_len
        if "\n" in plain or "\t" in plain or length > room:
            return None
        fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, fixed, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index}) \
            + component_style
        edge = [Segment(" " * pad)] if pad else []
        fill = [Segment(" " * (room - length))] if room > length else []
        line = [*edge, *self._text_segments(cell, plain), *fill, *edge]
        return list(Segment.apply_style(line, pre_style, post_style))

    def _text_segments(self, cell: Text, plain: str) -> list[Segment]:
        """Text.render's segments, with the text's own style as Rich's wrapping gives it (a
        span over the line: render alone drops it when there are no other spans)."""
        if not plain:
            return []
        console = self.app.console
        if cell.spans:
            return list(cell.render(console))
        return [Segment(plain, console.get_style(cell.style) if cell.style else None)]

    # -- widths are the subclass's: no cell is measured ---------------------------------
    def _update_dimensions(self, new_rows) -> None:
        width = sum(c.get_render_width(self) for c in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width + self._row_label_column_width, self.row_count + header)
