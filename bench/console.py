"""The console under load: 2,000 instances on 50 simulated hosts, headless.

Prints the time to the first full paint, the median and p99 time to apply one instance
change to the table, and how many changes per second the table absorbs while a key press
still gets its response within 100 ms.

Usage: python bench/console.py [--instances N] [--hosts H]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events  # noqa: E402

from core.cli import embed  # noqa: E402
from core.config import load_config  # noqa: E402
from core.engine import Engine  # noqa: E402
from core.events import InstanceChanged  # noqa: E402
from tui.app import NovaApp  # noqa: E402

from bench.engine_ops import write_inventory  # noqa: E402

RATES = (250, 500, 1000, 2000, 4000, 8000)


def p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def key_latency(pilot, app, presses: int = 40, limit: float = 2.0) -> list[float]:
    """Time from a key press reaching the app to its effect: the cursor moved in the
    instances table. (Pilot.press waits for every queue to drain, which a flood never
    lets happen, so the key is posted as the terminal driver posts it.)"""
    table = app.main.instances
    out = []
    for i in range(presses):
        before = table.cursor_row
        key = "down" if i % 2 == 0 else "up"
        start = time.perf_counter()
        app.post_message(events.Key(key, None))
        while table.cursor_row == before and time.perf_counter() - start < limit:
            await asyncio.sleep(0.0005)
        out.append(time.perf_counter() - start)
        await asyncio.sleep(0.05)
    return out


def feeder(app, instances, rate, stop):
    """Engine-side: post `rate` instance changes per second, as the engine thread would."""
    period = 1.0 / rate
    i = 0
    next_at = time.perf_counter()
    while not stop.is_set():
        inst = dict(instances[i % len(instances)])
        inst["vm_state"] = "paused" if (i // len(instances)) % 2 == 0 else "active"
        inst["power_state"] = 3 if inst["vm_state"] == "paused" else 1
        app._on_client_event(InstanceChanged(inst))
        i += 1
        next_at += period
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    return i


async def run(n: int, hosts: int) -> None:
    with tempfile.TemporaryDirectory(prefix="novatui-bench-") as tmp:
        tmp = Path(tmp)
        config = load_config(write_inventory(tmp / "hosts.toml", hosts))
        engine = Engine(config, tmp / "state").start()
        reqs = [engine.create(f"vm{i:04d}", "m1.tiny", "cirros") for i in range(n)]
        for r in reqs:
            engine.wait(r, 600)
        instances = engine.instances()
        client, service = embed(engine)
        app = NovaApp(client, service)
        start = time.perf_counter()
        async with app.run_test(size=(200, 60)) as pilot:
            while app.main.instances.row_count < n:
                await asyncio.sleep(0.005)
            await pilot.pause()
            first_paint = time.perf_counter() - start

            apply_times = []
            for i in range(600):
                inst = dict(instances[(i * 37) % n])
                inst["vm_state"] = "paused" if i % 2 == 0 else "active"
                t = time.perf_counter()
                app.main.apply([inst], [])
                apply_times.append(time.perf_counter() - t)
                if i % 50 == 0:
                    await asyncio.sleep(0)
            idle = await key_latency(pilot, app)

            absorbed = []
            for rate in RATES:
                stop = threading.Event()
                sent = []
                t = threading.Thread(target=lambda: sent.append(feeder(app, instances, rate, stop)))
                t0 = time.perf_counter()
                t.start()
                lat = await key_latency(pilot, app)
                stop.set()
                t.join()
                elapsed = time.perf_counter() - t0
                while app.feed.events:
                    await asyncio.sleep(0.01)
                absorbed.append((rate, sent[0] / elapsed, statistics.median(lat), p(lat, 0.95), max(lat)))
        client.close()
        service.stop()

    print(f"{n} instances on {hosts} simulated hosts, headless console 200x60")
    print(f"time to first full paint:         {first_paint * 1000:8.0f} ms")
    print(f"apply one instance change: median {statistics.median(apply_times) * 1e6:8.0f} us, "
          f"p99 {p(apply_times, 0.99) * 1e6:.0f} us")
    print(f"key press -> cursor moved (idle): median {statistics.median(idle) * 1000:.1f} ms, "
          f"p95 {p(idle, 0.95) * 1000:.1f} ms")
    print(f"{'offered/s':>10} {'absorbed/s':>11} {'key med ms':>11} {'key p95 ms':>11} {'key max ms':>11}")
    best = 0
    for rate, got, med, p95, worst in absorbed:
        print(f"{rate:>10} {got:>11.0f} {med * 1000:>11.1f} {p95 * 1000:>11.1f} {worst * 1000:>11.1f}")
        if p95 < 0.1:
            best = max(best, got)
    print(f"changes/s absorbed with key p95 under 100 ms: {best:.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=2000)
    ap.add_argument("--hosts", type=int, default=50)
    args = ap.parse_args()
    asyncio.run(run(args.instances, args.hosts))


if __name__ == "__main__":
    main()
