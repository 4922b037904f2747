"""The instances table's first picture, headless: the time to render a full screen (200x50)
of its rows from nothing (every render cache of DataTable's emptied), with FastTable's own
cell rendering against DataTable's (Rich's render pipeline for every cell), on the rows of
bench/fleet.py's populated state. The two alternate, so that a busy machine weighs on both
alike. The picture is the same either way (tests/tui/test_fast_table_guard.py).

Prints the median of --runs renders of each. Usage:
  python bench/table_render.py [--sizes 1000x20,5000x50] [--runs 15]
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import populate  # noqa: E402


def instances(src: Path) -> list[dict]:
    from core.config import load_config
    from core.starting import read_snapshot
    return read_snapshot(load_config(src / "hosts.toml"), src / "state", True).instances


async def render_times(rows: list[dict], runs: int) -> dict[str, list[float]]:
    from textual.app import App
    from textual.geometry import Region
    from textual.widgets import DataTable

    from tui.widgets.instances_table import InstancesTable

    class OneTable(App):
        def compose(self):
            yield InstancesTable()

    app = OneTable()
    times: dict[str, list[float]] = {"FastTable's cells": [], "DataTable's cells": []}
    async with app.run_test(size=(200, 50)) as pilot:
        table = app.query_one(InstancesTable)
        table.upsert(rows, "uuid")
        await pilot.pause()
        gc.freeze()   # as the console is, once its first rows are made
        caches = (table._cell_render_cache, table._row_render_cache, table._line_cache,
                  table._row_renderable_cache, table._styles_cache)
        for _ in range(runs):
            for label, values in times.items():
                if label == "DataTable's cells":
                    table._render_cell = lambda *a, **k: DataTable._render_cell(table, *a, **k)
                for cache in caches:
                    cache.clear()
                start = time.perf_counter()
                table.render_lines(Region(0, 0, *table.size))
                values.append(1000 * (time.perf_counter() - start))
                table.__dict__.pop("_render_cell", None)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000x20,5000x50", help="INSTANCESxHOSTS,...")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "novatui-fleet")
    args = ap.parse_args()
    for size in args.sizes.split(","):
        n, hosts_n = (int(x) for x in size.split("x"))
        times = asyncio.run(render_times(instances(populate(args.cache, n, hosts_n)), args.runs))
        print(f"{n} instances / {hosts_n} hosts: a full screen of the instances table, "
              f"rendered anew (median of {args.runs})")
        for label, values in times.items():
            print(f"  {label:20} {statistics.median(values):6.1f} ms")


if __name__ == "__main__":
    main()
