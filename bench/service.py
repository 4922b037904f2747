"""A console on a service, at fleet size: key -> row and another client's change -> row,
with the console embedding the service (what `novatui` does when none runs) and attached
to a `novatui serve` process (what it does when one runs).

  key -> row        `p` pressed on a row until the row shows the request (task_state
                    pausing/unpausing), and until it shows the end state (paused/active)
  other -> row      another client (a script's HttpClient) sends pause/unpause over the
                    socket; until the console's row shows it
  floor             the same libvirt calls made directly (virDomainSuspend/Resume on a
                    test:/// connection)

Medians (and p99 for other -> row) of repeated runs. Usage:
  python bench/service.py [--instances 1000] [--hosts 20] [--presses 40] [--changes 100]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402

from bench.engine_ops import write_inventory  # noqa: E402
from bench.fleet_floor import suspend_floor  # noqa: E402
from core.cli import attach, embed  # noqa: E402
from core.config import load_config  # noqa: E402
from core.engine import Engine  # noqa: E402
from core.service import wait_for_service  # noqa: E402
from tui.app import NovaApp  # noqa: E402


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def populate(config, state_dir: Path, n: int) -> None:
    with Engine(config, state_dir) as engine:
        reqs = [engine.create(f"vm{i:04d}", "m1.tiny", "cirros") for i in range(n)]
        for r in reqs:
            engine.wait(r, 600)


async def until(predicate, limit: float = 5.0) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > limit:
            raise TimeoutError("the row never changed")
        await asyncio.sleep(0.0005)
    return time.perf_counter() - start


async def measure(app: NovaApp, n: int, presses: int, changes: int) -> dict:
    table = app.main.instances
    await until(lambda: table.row_count >= n, 60)
    await asyncio.sleep(1.0)  # history and the first paint settle
    records = table.records
    table.focus()
    table.move_cursor(row=0)
    await asyncio.sleep(0.1)
    uuid = table.selected_key
    first, final = [], []
    for _ in range(presses):
        was = records[uuid]["vm_state"]
        start = time.perf_counter()
        app.post_message(events.Key("p", "p"))
        await until(lambda: records[uuid]["task_state"] is not None or records[uuid]["vm_state"] != was)
        first.append(time.perf_counter() - start)
        await until(lambda: records[uuid]["task_state"] is None and records[uuid]["vm_state"] != was)
        final.append(time.perf_counter() - start)
        await asyncio.sleep(0.05)

    script = attach(app.client.label, False)   # another client of the same service
    others = [u for u in records if u != uuid][:changes]
    other = []
    for target in others:
        was = records[target]["vm_state"]
        action = "pause" if was == "active" else "unpause"
        sent = time.perf_counter()
        done = threading.Event()
        threading.Thread(target=lambda: (script.request(action, target), done.set())).start()
        await until(lambda: records[target]["task_state"] is not None
                    or records[target]["vm_state"] != was)
        other.append(time.perf_counter() - sent)
        while not done.is_set():
            await asyncio.sleep(0.001)
    script.close()
    return {"first": first, "final": final, "other": other}


async def run_console(client, embedded, n, presses, changes) -> dict:
    app = NovaApp(client, embedded=embedded)
    async with app.run_test(size=(200, 50)):
        return await measure(app, n, presses, changes)


def embedded(config, state_dir, n, presses, changes) -> dict:
    client, service = embed(Engine(config, state_dir).start())
    try:
        return asyncio.run(run_console(client, service, n, presses, changes))
    finally:
        client.close()
        service.stop(settle=True)


@contextlib.contextmanager
def serve_process(config_path, state_dir):
    """`novatui serve` on the state dir, as its own process: (service.json, the process)."""
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "--config", str(config_path),
                             "--state-dir", str(state_dir), "serve"], cwd=ROOT,
                            stderr=subprocess.DEVNULL)
    try:
        found = wait_for_service(state_dir, 120, proc)
        if found is None:
            raise RuntimeError(f"novatui serve did not start (exit {proc.poll()})")
        yield found, proc
    finally:
        proc.terminate()
        proc.wait(120)


def attached(config_path, state_dir, n, presses, changes) -> dict:
    with serve_process(config_path, state_dir) as (found, _):
        client = attach(f"unix:{found['socket']}", False)
        try:
            return asyncio.run(run_console(client, None, n, presses, changes))
        finally:
            client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--presses", type=int, default=40)
    ap.add_argument("--changes", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="novatui-bench-") as tmp:
        config_path = write_inventory(Path(tmp) / "hosts.toml", args.hosts)
        config, state_dir = load_config(config_path), Path(tmp) / "state"
        populate(config, state_dir, args.instances)
        results = {"embedded": embedded(config, state_dir, args.instances, args.presses, args.changes),
                   "attached": attached(config_path, state_dir, args.instances, args.presses,
                                        args.changes)}
    floor = suspend_floor()
    print(f"{args.instances} instances on {args.hosts} simulated hosts, console 200x50 (headless)")
    print(f"floor: one libvirt suspend/resume on test:///, median {floor * 1e6:.0f} us")
    print(f"{'mode':<9} {'key->row med':>13} {'key->state med':>15} {'other->row med':>15} "
          f"{'other->row p99':>15}   (ms)")
    for mode, r in results.items():
        print(f"{mode:<9} {statistics.median(r['first']) * 1000:>13.1f} "
              f"{statistics.median(r['final']) * 1000:>15.1f} "
              f"{statistics.median(r['other']) * 1000:>15.1f} {pct(r['other'], 0.99) * 1000:>15.1f}")


if __name__ == "__main__":
    main()
