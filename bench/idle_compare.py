"""Start and idle CPU of the console and its service in tmux, this checkout against another:
the real `novatui` at 200x50 on a copy of bench/fleet.py's populated state (embedded: the
console starts its service; --mode attached: a `novatui serve` runs first, its start-up done,
or with --at-answer the console is launched as soon as it answers). Per launch: start
(launch -> the instances table shows all N and its first row, bench/fleet.py's start
figure), then, once the two have been calm for three seconds in a row (bench/tmux.settle),
the % of a core they use together over 10 s.
Launches alternate between the checkouts, so that a busy machine weighs on both alike.

--root DIR: the other checkout, whose core and tui the console and its service import (e.g.
`git worktree add DIR REV`, with bytecode compiled: `python -m compileall -q DIR/core DIR/tui`).
--no-idle: start alone (a launch takes a second, not fifteen). Usage:
  python bench/idle_compare.py --root DIR [--sizes 1000x20,5000x50] [--launches 3] [--no-idle]
                               [--mode embedded|attached] [--at-answer]
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

from bench.alternate import alternate  # noqa: E402
from bench.fleet import console, name, populate  # noqa: E402
from bench.fleet_screen import full_table  # noqa: E402
from bench.tmux import idle_cpu, kill_server, settle  # noqa: E402


def start_and_idle(src: Path, n: int, hosts: int, root: Path, trial: int,
                   idle: bool, mode: str, at_answer: bool) -> tuple[float, float | None]:
    """(start in ms, idle % of a core or None)."""
    with console(src, hosts, mode, trial, root, at_answer) as run:
        t0 = time.perf_counter()
        run.pane.start()
        start, _ = run.pane.wait(full_table(n, name(0, n)), 120, since=t0)
        if not idle:
            return 1000 * start, None
        pids = [run.pane.pid, run.service_pid()]
        settle(pids)
        return 1000 * start, idle_cpu(pids, 10.0)


def _figures(label: str, xs: list[float], unit: str) -> str:
    digits = 0 if unit == "ms" else 2
    each = ", ".join(f"{x:.{digits}f}" for x in xs)
    return f"{label} {statistics.median(xs):.{digits}f} {unit} (each: {each})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--sizes", default="1000x20,5000x50", help="INSTANCESxHOSTS,...")
    ap.add_argument("--launches", type=int, default=3)
    ap.add_argument("--mode", choices=("embedded", "attached"), default="embedded")
    ap.add_argument("--at-answer", action="store_true",
                    help="attached: the console as soon as the service answers")
    ap.add_argument("--no-idle", dest="idle", action="store_false", help="start alone")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "novatui-fleet")
    args = ap.parse_args()
    roots = {"this": ROOT, str(args.root): args.root.resolve()}
    try:
        for size in args.sizes.split(","):
            n, hosts = (int(x) for x in size.split("x"))
            src = populate(args.cache, n, hosts)
            def one(label: str, root: Path, trial: int) -> tuple[float, float | None]:
                start, idle = start_and_idle(src, n, hosts, root, trial, args.idle, args.mode,
                                             args.at_answer)
                print(f"  {size} {label} launch {trial}: start {start:.0f} ms"
                      + (f", idle {idle:.2f} %" if idle is not None else ""), flush=True)
                time.sleep(1.0)
                return start, idle

            runs = alternate(roots, args.launches, one)
            for label, xs in runs.items():
                figures = [_figures("start", [s for s, _ in xs], "ms")]
                if args.idle:
                    figures.append(_figures("idle", [i for _, i in xs], "% of a core"))
                print(f"{n} instances / {hosts} hosts, {args.mode}, {label}: " + "; ".join(figures))
    finally:
        kill_server()


if __name__ == "__main__":
    main()
