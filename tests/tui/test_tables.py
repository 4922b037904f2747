"""The tables show what is true and fit the terminal (issue 10, points 1, 2, 3 and 14):
cells never cut without a visible "…", host capacity after the allocation ratios, ages
sorted by time and ticking every second, columns that adapt to the width with the name
fixed, and a split between tables and panes that can be moved and is remembered."""
from __future__ import annotations

import os
import stat
import time

import pytest

from tests.conftest import launch
from tests.tui.conftest import SIZES, engine_of, open_console, until
from tui.widgets.diff_table import SHRINK_SECONDS
from tui.widgets.split import PREFS_FILE

LONG_NAMES = ("prod-frontend-web-01", "prod-frontend-web-02", "analytics-batch-worker-7")


def line_of(table, key: str) -> str:
    """The row as the terminal shows it."""
    table.move_cursor(row=table.get_row_index(key), animate=False)
    y = table.get_row_index(key) + 1 - int(table.scroll_y)  # + the header
    return table.render_line(y).text


def assert_cells_fit(table) -> None:
    """Every shown cell reads in full, or ends in a visible … in a column that may be cut."""
    for key in list(table.rows):
        line = line_of(table, key.value)
        cells = table.shown_cells(key.value)
        for col in table.shown_columns:
            text = cells[[k for k, _ in table.COLUMNS].index(col)].plain
            width = table.columns[col].width
            if text in line:
                continue
            assert col in table.MIN_WIDTHS and text[:width - 1] + "…" in line, (col, text, line)


def _bump(inst: dict, **fields) -> dict:
    return dict(inst, updated_at=inst["updated_at"] + 1, **fields)


async def test_cells_changed_in_place_widen_their_column_or_end_in_an_ellipsis(console):
    app, pilot = console
    table = app.main.instances
    inst = launch(engine_of(app), "web1")
    await until(pilot, lambda: table.row_count == 1 and table.records[inst["uuid"]]["ip"])
    assert inst["ip"] in line_of(table, inst["uuid"])           # not "10"
    await pilot.press("space")                                     # marked: "● web1"
    assert "● web1" in line_of(table, inst["uuid"])
    engine_of(app).request("lock", "web1")
    await until(pilot, lambda: "[L]" in line_of(table, inst["uuid"]))
    current = table.records[inst["uuid"]]
    app.main.apply([_bump(current, task_state="shelving_image_uploading", progress=40)], [])
    await pilot.pause(0.1)
    line = line_of(table, inst["uuid"])
    assert "shelving_image_uploading 40%" in line or "…" in line
    assert_cells_fit(table)
    app.main.apply([_bump(table.records[inst["uuid"]], task_state=None, progress=None)], [])
    await pilot.pause(0.1)
    assert table.columns["task"].width > len("Task")   # no jump while tasks come and go
    await until(pilot, lambda: table.columns["task"].width == len("Task"),   # then it shrinks
                timeout=3 * SHRINK_SECONDS)
    assert_cells_fit(app.main.hosts)


async def test_host_capacity_is_exact_after_the_allocation_ratios(console):
    app, pilot = console
    hosts = app.main.hosts
    inst = launch(engine_of(app), "tiny", az="az2")                    # m1.tiny on cmp3
    assert inst["host"] == "cmp3"
    engine_of(app).api.set_host("cmp1", False, "maintenance")  # its event reaches the console
    await until(pilot, lambda: hosts.records.get("cmp3", {}).get("instances") == 1
                and not hosts.records["cmp1"]["enabled"])
    await pilot.pause(0.1)
    cells = {k: hosts.get_cell("cmp3", k) for k in ("vcpus", "ram", "disk")}
    # 32 vCPUs x 16, 64 GiB x 1.5, 800 GB x 1.0: what the scheduler still offers
    assert cells["vcpus"].plain == "1/512 <1%"
    assert cells["ram"].plain == "512M/96G <1%"
    assert cells["disk"].plain == "1G/800G <1%"
    assert "disabled: maintenance" in line_of(hosts, "cmp1")
    full = dict(hosts.records["cmp2"], vcpus_used=16 * 16 - 10, memory_mb_used=32768 * 1.2,
                updated_at=time.time() + 60)
    app.main.apply([], [full])
    await pilot.pause(0.1)
    cells = {k: hosts.get_cell("cmp2", k) for k in ("vcpus", "ram")}
    assert cells["vcpus"].plain == "246/256 96%" and "red" in str(cells["vcpus"].style)
    assert cells["ram"].plain == "38.4G/48G 80%" and "yellow" in str(cells["ram"].style)
    assert_cells_fit(hosts)


async def test_age_sorts_by_time_and_ticks_every_second(console):
    app, pilot = console
    table = app.main.instances
    real = launch(engine_of(app), "real")
    await until(pilot, lambda: table.row_count == 1)
    now = time.time()
    fakes = [dict(real, uuid=f"{n:08d}-0000-4000-8000-000000000000", name=name,
                  created_at=now - secs, updated_at=now)
             for n, (name, secs) in enumerate((("young", 53), ("old", 26 * 60), ("older", 3 * 3600)))]
    app.main.apply(fakes, [])
    table.sort_index, table.sort_reverse = [k for k, _ in table.COLUMNS].index("age"), False
    table.refilter()
    await pilot.pause(0.1)
    names = [table.records[r.key.value]["name"] for r in table.ordered_rows]
    assert names[:2] == ["real", "young"] and names[2:] == ["old", "older"]  # not 53s after 26m
    updated: list[str] = []
    original = table.update_cell
    table.update_cell = lambda key, col, *a, **kw: (updated.append(col), original(key, col, *a, **kw))
    young = fakes[0]["uuid"]
    start = table.shown_cells(young)[-1].plain
    await until(pilot, lambda: table.shown_cells(young)[-1].plain != start, timeout=3)
    assert set(updated) == {"age"}                                 # nothing but the ages


async def test_columns_adapt_to_the_width_with_the_name_fixed(console):
    app, pilot = console
    table = app.main.instances
    for name in LONG_NAMES:
        launch(engine_of(app), name, "m1.small")
    await until(pilot, lambda: table.row_count == 3 and all(r["ip"] for r in table.records.values()))
    await pilot.pause(0.2)
    width = table.scrollable_content_region.width
    used = sum(c.get_render_width(table) for c in table.columns.values())
    assert used <= width                                           # nothing off-screen
    assert table.fixed_columns == 1 and table.shown_columns[0] == "name"
    for col in ("name", "status", "ip"):
        assert col in table.shown_columns                          # IP before ID, Image, ...
    assert table.columns["status"].width == max(len("Status"), *(len(table.shown_cells(k)[2].plain)
                                                                 for k in table._shown))
    if app.size.width < 100:
        assert "id" not in table.shown_columns and "image" not in table.shown_columns
    else:
        assert {"host", "age", "flavor"} <= set(table.shown_columns)
    assert_cells_fit(table)
    assert_cells_fit(app.main.hosts)
    await pilot.resize_terminal(200, 50)
    await pilot.pause(0.2)
    assert table.shown_columns == [k for k, _ in table.COLUMNS]    # all of them, wide enough


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_split_moves_and_is_remembered(console_env, size):
    async with open_console(console_env, size) as (app, pilot):
        before = app.main.logs.size.height
        await pilot.press("plus", "plus")
        await pilot.pause(0.2)
        grown = app.main.logs.size.height
        assert grown > before
        path = engine_of(app).state_dir / PREFS_FILE   # the service's state dir is here
        await until(pilot, path.exists)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    async with open_console(console_env, size) as (app, pilot):   # a new process
        await pilot.pause(0.1)
        assert app.main.logs.size.height == grown              # remembered
        await pilot.press("minus", "minus", "minus", "minus")
        await pilot.pause(0.2)
        assert app.main.logs.size.height < before
