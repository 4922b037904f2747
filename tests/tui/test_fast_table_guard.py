"""FastTable against a plain DataTable: the same operations must give the same table.

FastTable (tui/widgets/fast_table.py) reaches into DataTable's private internals for
speed (_row_locations, _data, rows, _update_count, _require_update_dimensions,
_highlight_cursor, _cell_render_cache, _y_offsets, _total_row_height, _get_row_region,
_update_dimensions). A Textual upgrade that renames or changes any of them must fail
here, not show wrong rows on screen. So each test drives a FastTable (through its own
methods) and a DataTable (through the public API) side by side in one small app, and
asserts both hold and render the same rows."""
from __future__ import annotations

from itertools import product

from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.cache import LRUCache
from textual.containers import Horizontal
from textual.geometry import Region
from textual.widgets import DataTable

from tui.widgets.fast_table import FastTable

COLUMNS = [("Name", "name", 8), ("State", "state", 7), ("N", "n", 3)]   # fixed widths


def make_rows(count: int) -> list[tuple[str, list]]:
    states = ["ACTIVE", "BUILD", "ERROR", "SHUTOFF"]
    return [(f"k{i:02}", [f"vm-{i:02}", states[i * 7 % 4], str((i * 13) % 17)])
            for i in range(count)]


class Pair(App):
    CSS = "FastTable, DataTable { width: 1fr; height: 12; }"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield FastTable(id="fast", cursor_type="row")
            yield DataTable(id="plain", cursor_type="row")

    def on_mount(self) -> None:
        self.highlighted: dict[str, list] = {"fast": [], "plain": []}
        for table in self.query(DataTable):
            for label, key, width in COLUMNS:
                table.add_column(label, key=key, width=width)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.highlighted[event.data_table.id].append((event.cursor_row, event.row_key.value))


async def pair(pilot, count: int):
    """Both tables with the same rows: FastTable in one call, DataTable row by row."""
    fast, plain = pilot.app.query_one("#fast", FastTable), pilot.app.query_one("#plain")
    rows = make_rows(count)
    fast.add_keyed_rows(rows)
    for key, cells in rows:
        plain.add_row(*cells, key=key)
    await pilot.pause()
    return fast, plain


def keys(table: DataTable) -> list[str]:
    return [row.key.value for row in table.ordered_rows]


def screen(table: DataTable) -> list[str]:
    # as the compositor gets them, through the line cache: a line not refreshed is stale
    return [strip.text for strip in table.render_lines(Region(0, 0, *table.size))]


def assert_same(fast: FastTable, plain: DataTable) -> None:
    assert fast.row_count == plain.row_count
    assert keys(fast) == keys(plain)
    assert [fast.get_row_at(i) for i in range(fast.row_count)] == \
        [plain.get_row_at(i) for i in range(plain.row_count)]
    assert fast.virtual_size == plain.virtual_size
    assert (fast.scroll_y, fast.cursor_coordinate) == (plain.scroll_y, plain.cursor_coordinate)
    assert screen(fast) == screen(plain)
    assert fast.app.highlighted["fast"] == fast.app.highlighted["plain"]   # RowHighlighted


async def test_the_internals_fast_table_uses_are_there():
    async with Pair().run_test(size=(60, 12)) as pilot:
        fast, plain = await pair(pilot, 3)
        for name in ("_update_dimensions", "_get_row_region", "_highlight_cursor",
                     "check_idle", "refresh_row", "is_valid_row_index"):
            assert callable(getattr(plain, name, None)), f"DataTable.{name} is not a method"
        for name in ("_row_locations", "_column_locations"):
            loc = getattr(plain, name, None)
            assert all(callable(getattr(loc, m, None)) for m in ("get_key", "get", "__contains__",
                       "__setitem__")), f"DataTable.{name} is not a two-way mapping"
        assert plain._row_locations.get_key(1).value == "k01", "_row_locations: index -> key"
        assert isinstance(plain._data, dict) and all(isinstance(cells, dict) for cells in
                                                     plain._data.values()), "_data: dict of dicts"
        assert list(plain._data[plain._row_locations.get_key(0)]) == \
            [column.key for column in plain.ordered_columns], "_data's rows: ColumnKey -> value"
        for name, kind in (("rows", dict), ("_update_count", int), ("_total_row_height", int),
                           ("_require_update_dimensions", bool), ("_y_offsets", list),
                           ("_cell_render_cache", LRUCache)):
            assert isinstance(getattr(plain, name, None), kind), f"DataTable.{name} is not {kind}"
        assert plain._y_offsets == fast._y_offsets, "_y_offsets: (row key, line in row) per line"
        assert plain._total_row_height == fast._total_row_height
        assert [plain._get_row_region(i) for i in range(-1, 4)] == \
            [fast._get_row_region(i) for i in range(-1, 4)]


async def test_bulk_add_is_add_row():
    async with Pair().run_test(size=(60, 12)) as pilot:
        fast, plain = await pair(pilot, 5)
        assert_same(fast, plain)
        for table in (fast, plain):
            table.move_cursor(row=3)
        await pilot.pause()
        assert fast.coordinate_to_cell_key(fast.cursor_coordinate) == \
            plain.coordinate_to_cell_key(plain.cursor_coordinate)
        assert fast.coordinate_to_cell_key(fast.cursor_coordinate).row_key.value == "k03"
        more = make_rows(8)[5:]   # a second bulk add goes below the first
        fast.add_keyed_rows(more)
        for key, cells in more:
            plain.add_row(*cells, key=key)
        await pilot.pause()
        assert_same(fast, plain)


async def test_update_cell_on_and_off_screen():
    async with Pair().run_test(size=(60, 12)) as pilot:
        fast, plain = await pair(pilot, 40)
        for table in (fast, plain):
            table.update_cell("k02", "state", "REBOOT")
            table.update_cell("k35", "n", "99")
        await pilot.pause()
        assert_same(fast, plain)
        assert any("REBOOT" in line for line in screen(fast))
        for table in (fast, plain):
            assert table.get_cell("k35", "n") == "99"
            table.move_cursor(row=35)
        await pilot.pause()
        assert fast.scroll_y > 0
        assert_same(fast, plain)
        assert any("vm-35" in line and "99" in line for line in screen(fast))
        for table in (fast, plain):   # and back up, to a row changed while off screen
            table.update_cell("k01", "name", "renamed")
            table.scroll_to(y=0, animate=False)
        await pilot.pause()
        assert_same(fast, plain)
        assert any("renamed" in line for line in screen(fast))


async def test_sort_and_remove_row():
    async with Pair().run_test(size=(60, 12)) as pilot:
        fast, plain = await pair(pilot, 20)
        for table in (fast, plain):
            table.sort("state", "name", reverse=True)
        await pilot.pause()
        assert keys(fast) != [key for key, _ in make_rows(20)]   # the sort did reorder
        assert_same(fast, plain)
        for table in (fast, plain):
            table.remove_row(table.ordered_rows[0].key)
            table.remove_row("k07")
            table.sort("n", key=int)
        await pilot.pause()
        assert fast.row_count == 18
        assert_same(fast, plain)
        for table in (fast, plain):
            table.clear()
        await pilot.pause()
        assert_same(fast, plain)


# -- cells of one line, rendered without Rich's pipeline -------------------------------------
def styled(lines: list) -> list[list[tuple]]:
    """Each line as (character, style) pairs: the same picture, whatever the segments."""
    return [[(ch, seg.style) for seg in line for ch in seg.text] for line in lines]


def kinds_of_cells() -> list[tuple[str, list]]:
    spans = Text("web-01 [L]", style="dim")
    spans.stylize("bold red", 7)
    cut = Text("a-name-far-too-long", style="dim")
    cut.no_wrap, cut.overflow = True, "ellipsis"
    return [("plain", [Text("vm-01"), Text("ACTIVE", style="green"), Text("3", style="bold cyan dim")]),
            ("spans", [spans, Text("", style="dim"), Text("", style="")]),
            ("cut", [cut, Text("宽字符", style="italic"), Text("tab\there")]),
            ("other", ["[b]markup[/b]", None, Text("right", justify="right")]),
            ("lines", [Text("two\nlines"), Text("x" * 7, style="on blue"), Text("123")])]


class StyledPair(Pair):
    """Every component style of a body cell told apart (the default theme gives the fixed
    column's cursor the cursor's own colours)."""
    CSS = Pair.CSS + """
    DataTable > .datatable--fixed-cursor { color: red; background: green; }
    DataTable > .datatable--hover { background: yellow; }"""


async def test_a_one_line_cell_renders_as_datatable_renders_it():
    async with StyledPair().run_test(size=(60, 12)) as pilot:
        fast = pilot.app.query_one("#fast", FastTable)
        fast.fixed_columns = 1
        fast.add_keyed_rows(kinds_of_cells())
        await pilot.pause()
        shortcut = set()
        for row, show_hover in product(range(-1, fast.row_count), (False, True)):
            fast._show_hover_cursor = show_hover
            for column in range(len(COLUMNS)):
                width = fast.ordered_columns[column].get_render_width(fast)
                for cursor, hover, base in ((False, False, Style()), (True, False, Style(bold=True)),
                                            (False, True, Style(bgcolor="red")), (True, True, Style())):
                    fast._cell_render_cache.clear()
                    ours = fast._render_cell(row, column, base, width, cursor, hover)
                    fast._cell_render_cache.clear()
                    theirs = DataTable._render_cell(fast, row, column, base, width, cursor, hover)
                    assert styled(ours) == styled(theirs), (row, column, cursor, hover)
                    cell = fast.get_row_at(row)[column] if row >= 0 else None
                    if fast._one_line(cell, row, column, base, width, cursor, hover) is not None:
                        shortcut.add((row, column))
        # the Text cells of one line that fit took the shortcut; the others went to Rich
        assert shortcut == {(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (4, 1), (4, 2)}
        for table_cursor in (0, 2):   # and the table's picture as the compositor gets it
            fast.move_cursor(row=table_cursor)
            await pilot.pause()
            ours = picture(fast)
            fast._render_cell = lambda *a, **k: DataTable._render_cell(fast, *a, **k)
            assert picture(fast) == ours
            del fast._render_cell


def picture(table: DataTable) -> list[list[tuple]]:
    """The table's lines, rendered anew (every cache of DataTable's emptied)."""
    for cache in (table._cell_render_cache, table._row_render_cache, table._line_cache,
                  table._row_renderable_cache, table._styles_cache):
        cache.clear()
    return styled([list(strip) for strip in table.render_lines(Region(0, 0, *table.size))])
