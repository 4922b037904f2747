"""Idle CPU of the console and its service in tmux, this checkout against another: the real
`novatui` at 200x50 on a copy of bench/fleet.py's populated state (embedded: the console
starts its service), and once the table is full and the two have been calm for three
seconds in a row (bench/tmux.settle), the % of a core they use together over 10 s. Launches
alternate between the checkouts, so that a busy machine weighs on both alike.

--root DIR: the other checkout, whose core and tui the console and its service import (e.g.
`git worktree add DIR REV`, with bytecode compiled: `python -m compileall -q DIR/core DIR/tui`).
Usage:
  python bench/idle_compare.py --root DIR [--sizes 1000x20,5000x50] [--launches 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import console, name, populate  # noqa: E402
from bench.fleet_screen import full_table  # noqa: E402
from bench.tmux import idle_cpu, kill_server, settle  # noqa: E402


def idle_of(src: Path, n: int, hosts: int, root: Path, trial: int) -> float:
    with console(src, hosts, "embedded", trial, root) as run:
        run.pane.start()
        run.pane.wait(full_table(n, name(0, n)), 120)
        pids = [run.pane.pid, run.service_pid()]
        settle(pids)
        return idle_cpu(pids, 10.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--sizes", default="1000x20,5000x50", help="INSTANCESxHOSTS,...")
    ap.add_argument("--launches", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "novatui-fleet")
    args = ap.parse_args()
    roots = {"this": ROOT, str(args.root): args.root.resolve()}
    try:
        for size in args.sizes.split(","):
            n, hosts = (int(x) for x in size.split("x"))
            src = populate(args.cache, n, hosts)
            idle: dict[str, list[float]] = {label: [] for label in roots}
            for trial in range(args.launches):
                for label, root in roots.items():
                    idle[label].append(idle_of(src, n, hosts, root, trial))
                    print(f"  {size} {label} launch {trial}: {idle[label][-1]:.2f} %", flush=True)
                    time.sleep(1.0)
            for label, xs in idle.items():
                print(f"{n} instances / {hosts} hosts, {label}: idle {statistics.median(xs):.2f} % "
                      f"of a core (each: {', '.join(f'{x:.2f}' for x in xs)})")
    finally:
        kill_server()


if __name__ == "__main__":
    main()
