"""A service's start at fleet size: `novatui serve` on a copy of bench/fleet.py's populated
state, from its launch until a tenth of a second with no CPU used (its hosts connected,
swept and synced). Per launch: when it first answers on its socket, the CPU it used in all,
and how much of that came after it answered (what an attached console launched at once
competes with). Launches alternate with --root DIR's checkout (e.g. `git archive REV core
tui | tar -x -C DIR`, bytecode compiled), so that a busy machine weighs on both alike.

Usage: python bench/service_start.py [--sizes 5000x50] [--launches 4] [--root DIR]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.alternate import alternate  # noqa: E402
from bench.fleet import NOVATUI, populate, write_inventory  # noqa: E402
from bench.tmux import cpu_seconds  # noqa: E402


def launch(src: Path, hosts_n: int, root: Path) -> dict:
    from core.service import wait_for_service
    with tempfile.TemporaryDirectory(prefix="novatui-serve-") as tmp:
        work = Path(tmp)
        write_inventory(work / "hosts.toml", hosts_n)
        shutil.copytree(src / "state", work / "state", symlinks=True)
        os.sync()
        base = [*NOVATUI, "--config", str(work / "hosts.toml"), "--state-dir", str(work / "state")]
        t0 = time.perf_counter()
        serve = subprocess.Popen([*base, "serve"], cwd=root, stderr=subprocess.DEVNULL)
        try:
            if wait_for_service(work / "state", 120, serve) is None:
                raise RuntimeError(f"novatui serve did not start (exit {serve.poll()})")
            answered, at_answer = time.perf_counter() - t0, cpu_seconds(serve.pid)
            last = at_answer
            while True:
                time.sleep(0.1)
                now = cpu_seconds(serve.pid)
                if now == last:
                    break
                last = now
            return {"answer": answered, "cpu": last, "after": last - at_answer}
        finally:
            serve.terminate()
            serve.wait(120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000x50", help="INSTANCESxHOSTS,...")
    ap.add_argument("--launches", type=int, default=4)
    ap.add_argument("--root", type=Path, help="another checkout, alternating with this one")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "novatui-fleet")
    args = ap.parse_args()
    roots = {"this": ROOT, **({str(args.root): args.root.resolve()} if args.root else {})}
    for size in args.sizes.split(","):
        n, hosts_n = (int(x) for x in size.split("x"))
        src = populate(args.cache, n, hosts_n)
        runs = alternate(roots, args.launches,
                         lambda _label, root, _trial: launch(src, hosts_n, root))
        for label, xs in runs.items():
            med = lambda key: 1000 * statistics.median(r[key] for r in xs)  # noqa: E731
            print(f"{n} instances / {hosts_n} hosts, {label}: answers after "
                  f"{med('answer'):.0f} ms; CPU {med('cpu'):.0f} ms in all, "
                  f"{med('after'):.0f} ms of it after the answer (medians of {len(xs)})")


if __name__ == "__main__":
    main()
