"""A DataTable whose costs do not grow with its number of rows.

Textual's DataTable repaints the whole table for one changed cell, walks every row to order
them and to find a row's line after any change (its caches are keyed on a counter that
every cell update bumps), and measures every cell of every new row for column widths. At
5,000 rows that is most of the console's CPU while instances change.

Here every row is one line high and the subclass sets the column widths itself (DiffTable
measures what it shows), so: a changed cell repaints its row's line only; the row order
and the line offsets are rebuilt only when rows are added, removed or sorted; a row's line
is its index; new rows are not measured."""
from __future__ import annotations

from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey


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
        self.refresh_row(self._row_locations.get(row_key))

    # -- widths are the subclass's: no cell is measured ---------------------------------
    def _update_dimensions(self, new_rows) -> None:
        width = sum(c.get_render_width(self) for c in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width + self._row_label_column_width, self.row_count + header)
