"""`novatui server pause X` / `unpause X` as whole processes, as a script or a user runs them:
the venv's `novatui` entry point started by subprocess, wall clock from fork to exit, the
request done (the CLI waits for it by default).

For each size, a state dir with N instances on H simulated hosts (bench/fleet.py's
populate(), made once into --cache and shared with bench/fleet.py) is copied, and timed:

  service   a `novatui serve` process runs for the state dir: the CLI finds its socket
            (<state>/api.sock) and talks HTTP to it (core/http_client.py)
  local     no service: the CLI runs an engine in its own process (LocalClient)

beside the floor, `virsh -c test:///default suspend test` (one process, one libvirt call).
Each row is the median of --runs runs of each verb (pause, then unpause, alternating), after
two untimed pairs (the service's hosts come up meanwhile). Usage:

  python bench/cli.py [--sizes 1000x20,5000x50] [--modes service,local] [--runs 10]
                      [--pythonpath DIR]...

--pythonpath DIR also times another copy of the `core` package with the same entry point
(e.g. `git archive HEAD core | tar -x -C DIR`), for before/after figures: each run times
every copy in turn, so that a busy machine weighs on all alike. The service is this
checkout's either way.
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

from bench.fleet import name, populate  # noqa: E402
from bench.fleet_floor import _virsh  # noqa: E402
from bench.service import serve_process  # noqa: E402

NOVATUI = Path(sys.executable).parent / "novatui"
WARMUP_PAIRS = 2


def child_env(pythonpath: str | None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOVATUI_URL", "NOVATUI_TOKEN", "NOVATUI_CONFIG", "NOVATUI_STATE_DIR")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def timed(argv: list[str], env: dict) -> float:
    t = time.perf_counter()
    p = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    took = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return took


def pauses(work: Path, row: str, runs: int, envs: dict[str, dict]) -> dict[str, dict]:
    """{version: {"pause": [seconds], "unpause": [seconds]}}, the versions interleaved."""
    base = [str(NOVATUI), "--config", str(work / "hosts.toml"), "--state-dir",
            str(work / "state"), "server"]
    out = {label: {"pause": [], "unpause": []} for label in envs}
    for i in range(WARMUP_PAIRS + runs):
        for label, env in envs.items():
            for verb in ("pause", "unpause"):
                took = timed([*base, verb, row], env)
                if i >= WARMUP_PAIRS:
                    out[label][verb].append(took)
    return out


def ms(values: list[float]) -> str:
    return f"{1000 * statistics.median(values):6.0f} ms  ({1000 * min(values):.0f}-" \
           f"{1000 * max(values):.0f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000x20,5000x50", help="INSTANCESxHOSTS,...")
    ap.add_argument("--modes", default="service,local")
    ap.add_argument("--runs", type=int, default=10, help="timed runs of each verb")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "novatui-fleet")
    ap.add_argument("--pythonpath", action="append", default=[], metavar="DIR",
                    help="also time the `core` package found in DIR (repeatable)")
    args = ap.parse_args()
    envs = {"this": child_env(None), **{d: child_env(d) for d in args.pythonpath}}
    floor = _virsh(max(args.runs, 5))
    rows = []
    for size in args.sizes.split(","):
        n, hosts_n = (int(x) for x in size.split("x"))
        src = populate(args.cache, n, hosts_n)
        row = name(n // 2, n)
        with tempfile.TemporaryDirectory(prefix="novatui-bench-cli-") as tmp:
            work = Path(tmp) / "w"
            shutil.copytree(src, work)
            for mode in args.modes.split(","):
                if mode == "service":
                    with serve_process(work / "hosts.toml", work / "state"):
                        times = pauses(work, row, args.runs, envs)
                elif mode == "local":
                    times = pauses(work, row, args.runs, envs)
                else:
                    raise SystemExit(f"--modes: no mode {mode!r} (service, local)")
                for label, t in times.items():
                    rows.append((f"{n} / {hosts_n}", mode, label, t))
                    print(f"  {n} / {hosts_n} {mode} {label}: pause {ms(t['pause'])}, "
                          f"unpause {ms(t['unpause'])}", file=sys.stderr)
    print(f"\n`novatui server pause|unpause X` as a process, median of {args.runs} runs "
          f"(min-max); core: this = {ROOT / 'core'}")
    width = max(len(label) for *_, label, _ in rows)
    print(f"  {'instances / hosts':<18} {'mode':<8} {'core':<{width}} {'pause':<24} "
          f"{'unpause':<24} floor (virsh)")
    for size, mode, label, times in rows:
        print(f"  {size:<18} {mode:<8} {label:<{width}} {ms(times['pause']):<24} "
              f"{ms(times['unpause']):<24} {1000 * floor:.0f} ms")


if __name__ == "__main__":
    main()
