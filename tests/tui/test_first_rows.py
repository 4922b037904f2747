"""The first rows are never painted under their columns' labels' widths (the issue "garbled
first rows at start-up": `vm00  97 … cmp1` for `vm0000  9ac28d4e … cmp12`), whichever comes
first: the table's first layout, or the first picture's rows (a console's first picture can
be applied before its screen is laid out)."""
from __future__ import annotations

import re

from textual.app import App

from tui.widgets.instances_table import InstancesTable

NOW = 1793520000.0
ROWS = 40   # more than a screenful: rows below the first screen are never painted here


def record(n: int) -> dict:
    return {"uuid": f"{n:08x}-0000-4000-8000-000000000000", "name": f"vm{n:04d}",
            "vm_state": "active", "task_state": None, "power_state": 1, "host": f"cmp{n % 20}",
            "flavor": "m1.tiny", "image": "cirros", "ip": f"10.0.{n // 250}.{n % 250 + 2}",
            "locked": False, "created_at": NOW - 60 * n, "updated_at": NOW, "progress": None,
            "deleted_at": None}


class OneTable(App):
    """An instances table that records every line it paints."""

    def __init__(self, early: bool) -> None:
        super().__init__()
        self.early = early
        self.painted: list[str] = []

    def compose(self):
        table = InstancesTable()
        paint = table.render_line
        table.render_line = lambda y: self._keep(paint(y))
        yield table

    def _keep(self, strip):
        self.painted.append(strip.text)
        return strip

    def on_mount(self) -> None:
        table = self.query_one(InstancesTable)
        if self.early:   # the columns are there, the table is not laid out yet
            assert table.columns and not table.size
            self.apply()

    def apply(self) -> None:
        self.query_one(InstancesTable).upsert([record(n) for n in range(ROWS)], "uuid")


def garbled(lines: list[str]) -> list[str]:
    """Painted rows whose name or ID is cut."""
    return [line for line in lines if line.lstrip().startswith("vm")
            and not re.match(r"\s*vm\d{4}\s+[0-9a-f]{8}\s", line)]


async def test_rows_before_the_first_layout_paint_at_their_measured_widths():
    app = OneTable(early=True)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        table = app.query_one(InstancesTable)
        assert table.columns["name"].width == len("vm0000")
        assert any("vm0000" in line for line in app.painted)
        assert garbled(app.painted) == []


async def test_rows_after_the_first_layout_paint_at_their_measured_widths():
    app = OneTable(early=False)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        assert app.painted and not any("vm0000" in line for line in app.painted)   # no rows yet
        app.apply()
        await pilot.pause()
        assert any("vm0000" in line for line in app.painted)
        assert garbled(app.painted) == []


async def test_a_first_fill_of_thousands_makes_its_first_rows_in_its_frame_and_the_rest_after():
    from tui.screens.main_view import _table_state
    from tui.widgets.diff_table import FIRST_FILL
    n = 1000
    app = OneTable(early=False)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        table = app.query_one(InstancesTable)
        table.upsert([record(i) for i in range(n)], "uuid")
        # Before the frame: the first rows only, counted with the rest in the title.
        assert table.row_count == FIRST_FILL
        assert table.shown_count == n and _table_state(table, "instances", []) == f"instances {n}"
        # Changed or deleted before they are made: made once, from their newest record, in
        # their place; or not at all.
        changed = dict(record(900), task_state="pausing", updated_at=NOW + 1)
        table.upsert([changed, dict(record(901), deleted_at=NOW + 1, updated_at=NOW + 1)], "uuid")
        assert table.row_count == FIRST_FILL and table.shown_count == n - 1
        await pilot.pause()
        keys = [row.key.value for row in table.ordered_rows]
        assert len(keys) == len(set(keys)) == n - 1
        assert record(901)["uuid"] not in keys
        assert table.shown_cells(changed["uuid"])[3].plain == "pausing"
        assert keys == [record(i)["uuid"] for i in range(n) if i != 901]
        assert table.shown_count == n - 1 and garbled(app.painted) == []


async def test_columns_are_fitted_when_the_width_changes_not_at_every_layout():
    """A fit may scan every row (a column whose widest cell changed): a layout that leaves
    the table's width as it was (a title, a row changed) must not make one."""
    app = OneTable(early=True)
    async with app.run_test(size=(160, 30)) as pilot:
        table = app.query_one(InstancesTable)
        table.styles.border = ("round", "white")   # as the console's: its content is narrower
        await pilot.pause()
        fits = []
        fit = table.fit_columns
        table.fit_columns = lambda *a, **k: fits.append(1) or fit(*a, **k)
        for _ in range(3):
            app.screen.refresh(layout=True)
            await pilot.pause()
        assert fits == []
        await pilot.resize_terminal(120, 30)
        await pilot.pause()
        assert fits and table.size.width < 160
