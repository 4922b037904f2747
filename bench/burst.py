"""A script's burst with the console open, and where its CPU goes: the real `novatui` in a
tmux pane at 200x50 on 1,000 instances / 20 simulated hosts (embedded: the console starts
its own service), a script sending 1,000 pauses then 1,000 unpauses by id, one request
after another (or from --senders threads), then waiting for them all (bench/fleet.py's bulk
row). Per launch: requests per second,
and CPU milliseconds per request of the console, its service and the script (a process of
its own, bench/burst_script.py, that uses the measured checkout's HTTP client).

The script's CPU per request is the same work in every launch: the other figures divided
by it say what changed when the machine's speed does not (these machines' speed varies by
2x from one minute to the next).

--root DIR measures the `core` and `tui` found in DIR as well (e.g. `git archive REV core
tui | tar -x -C DIR`; the script's client is DIR's too), for before/after figures: launches alternate between the copies, so
that a busy machine weighs on both alike. Usage:
  python bench/burst.py [--launches 5] [--senders 1] [--root DIR]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import console, name, populate  # noqa: E402
from bench.fleet_screen import full_table  # noqa: E402
from bench.tmux import cpu_seconds, kill_server  # noqa: E402

N, HOSTS = 1000, 20
SCRIPT = ROOT / "bench" / "burst_script.py"


def launch(src: Path, root: Path, trial: int, senders: int) -> dict:
    with console(src, HOSTS, "embedded", trial, root) as run:
        run.pane.start()
        run.pane.wait(full_table(N, name(0, N)), 120)
        console_pid, service = run.pane.pid, run.service_pid()
        time.sleep(2.0)
        before = cpu_seconds(console_pid), cpu_seconds(service)
        # pauses, then unpauses: 2 x N requests, by the measured checkout's own client
        done = subprocess.run([sys.executable, str(SCRIPT), str(run.state / "api.sock"), str(N),
                               str(senders)],
                              cwd=root, capture_output=True, text=True, timeout=600, check=True)
        after = cpu_seconds(console_pid), cpu_seconds(service)
    out = json.loads(done.stdout)
    ms = [1000 * (a - b) / (2 * N) for a, b in zip(after, before)]
    return {"rate": out["rate"], "console": ms[0], "service": ms[1],
            "script": 1000 * out["cpu"] / (2 * N)}


def report(label: str, runs: list[dict], senders: int) -> None:
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    ratio = lambda key: statistics.median(r[key] / r["script"] for r in runs)  # noqa: E731
    plural = "s" if senders > 1 else ""
    print(f"{label}: {med('rate'):.0f} requests/s ({senders} sender{plural}); CPU per "
          f"request: console {med('console'):.2f} ms ({ratio('console'):.2f}x the script's), "
          f"service {med('service'):.2f} ms ({ratio('service'):.2f}x), "
          f"script {med('script'):.2f} ms ({len(runs)} launches)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--launches", type=int, default=5)
    ap.add_argument("--senders", type=int, default=1, help="the script's sending threads")
    ap.add_argument("--root", type=Path, action="append", default=[],
                    help="also measure the core and tui found in this folder (repeatable)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "novatui-fleet")
    args = ap.parse_args()
    roots = [ROOT, *(r.resolve() for r in args.root)]
    src = populate(args.cache, N, HOSTS)
    runs: dict[Path, list[dict]] = {r: [] for r in roots}
    try:
        for trial in range(args.launches):
            for root in roots:
                runs[root].append(out := launch(src, root, trial, args.senders))
                print(f"{root} launch {trial}: {out['rate']:.0f}/s, console {out['console']:.2f} "
                      f"ms, service {out['service']:.2f} ms, script {out['script']:.2f} ms",
                      flush=True)
    finally:
        kill_server()
    for root in roots:
        report("this checkout" if root == ROOT else str(root), runs[root], args.senders)


if __name__ == "__main__":
    main()
