"""Idle cost at fleet size: the CPU a `novatui serve` process and a console attached to it
use while nothing happens, and the console's start -> every row in the table.

The console runs headless (Textual's run_test at 200x50), so terminal output is not
counted: a console in a real terminal costs somewhat more. CPU is read from /proc for the
service and from process_time() for the console (this process), over --seconds of idle,
after the console has settled. Medians of --runs.

Usage: python bench/idle.py [--instances 1000] [--hosts 20] [--seconds 10] [--runs 3] [--sync 2]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine_ops import write_inventory  # noqa: E402
from bench.service import populate, serve_process  # noqa: E402
from core.cli import attach  # noqa: E402
from core.config import load_config  # noqa: E402
from tui.app import NovaApp  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def one_run(socket: str, pid: int, n: int, seconds: float) -> tuple[float, float, float]:
    start = time.perf_counter()
    app = NovaApp(attach(f"unix:{socket}", False))
    async with app.run_test(size=(200, 50)):
        while app.main.instances.row_count < n:
            await asyncio.sleep(0.005)
        full = time.perf_counter() - start
        await asyncio.sleep(3.0)   # history, widths and the first timers settle
        svc0, con0, t0 = cpu_seconds(pid), time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - t0
        svc = (cpu_seconds(pid) - svc0) / elapsed * 100
        con = (time.process_time() - con0) / elapsed * 100
    app.client.close()
    return full, svc, con


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sync", type=float, default=None,
                    help="sync_power_state_interval (default: the product's, 60 s)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="novatui-bench-") as tmp:
        config_path = write_inventory(Path(tmp) / "hosts.toml", args.hosts, args.sync)
        state_dir = Path(tmp) / "state"
        populate(load_config(config_path), state_dir, args.instances)
        with serve_process(config_path, state_dir) as (found, proc):
            time.sleep(3.0)
            runs = [asyncio.run(one_run(found["socket"], proc.pid, args.instances, args.seconds))
                    for _ in range(args.runs)]
            svc0, t0 = cpu_seconds(proc.pid), time.perf_counter()
            time.sleep(args.seconds)  # and the service with no console attached
            alone = (cpu_seconds(proc.pid) - svc0) / (time.perf_counter() - t0) * 100
    med = [statistics.median(r[i] for r in runs) for i in range(3)]
    print(f"{args.instances} instances on {args.hosts} simulated hosts, power sync every "
          f"{args.sync:g} s, {args.runs} runs, {args.seconds:.0f} s idle each (medians)")
    print(f"console start -> every row in the table: {med[0] * 1000:.0f} ms (headless)")
    print(f"idle CPU, % of a core: service {med[1]:.2f}, attached console {med[2]:.2f}, "
          f"service with no console {alone:.2f}")


if __name__ == "__main__":
    main()
