"""The console at fleet size, measured as a user sees it: the real `novatui` in a tmux pane at
200x50, typed into with send-keys and read with capture-pane, on simulated hosts.

Each launch copies a populated state dir, starts the console (embedded: it starts its own
service, a child process; attached: a `novatui serve` process runs first, its start-up
done, and the console attaches to it) and takes, in order:

  start          launch -> the instances table shows all N and its first row ("G" then
                 shows the last row: every row reachable); first rows checked for garbling
  idle CPU       % of a core used by the console and its service over 10 s, after 2 s of calm
                 and then the first second they use under 5 % together (start-up done)
  key            p / p / o / s on the first row -> the row's new status on screen
  other          another process (a script's HTTP client) pauses or unpauses a visible row
                 -> the row on screen (p99 over all launches)
  host           disable / enable, force down / up of a visible host -> the hosts row
  cli            `novatui server pause X` (then unpause) as a whole process, waiting for it
  bulk           a script sends 1,000 pauses (one at a time, as `openstack` would), the console
                 open -> all done; requests per second
  RSS            after paging through every row with PageDown: the console's, and its
                 service's beside it

Floors: start, the libvirt calls that list every host's domains (open + listAllDomains +
info); key and other, one virDomainSuspend; cli, `virsh -c test:///default suspend`; bulk,
virDomainSuspend in a loop.

Prints medians of --launches launches per size and mode. Usage:
  python bench/fleet.py [--sizes 1000x20,5000x50] [--modes embedded,attached] [--launches 5]
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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import fleet_floor as floor  # noqa: E402
from bench.engine_ops import write_inventory  # noqa: E402
from bench.fleet_screen import (full_table, garbled_rows, host_cell, instance_status,  # noqa: E402
                                rows)
from bench.tmux import Pane, idle_cpu, kill_server, reap, rss_mb, settle  # noqa: E402

NOVATUI = [sys.executable, "-m", "core.cli"]
KEYS = (("p", "PAUSED"), ("p", "ACTIVE"), ("o", "SHUTOFF"), ("s", "ACTIVE"))
PAGE_ROWS = 12


def name(i: int, n: int) -> str:
    """The i-th of n instances, as bench/service.py's populate() names them."""
    return f"vm{i:04d}"


class Launch:
    """A console in a tmux pane on a fresh copy of the populated state (embedded: it starts
    its own service; attached: a `novatui serve` runs first). `root`: the checkout whose
    core and tui the console and its service import (their working directory)."""

    def __init__(self, work: Path, trial: int, root: Path = ROOT):
        self.state = work / "state"
        self.base = [*NOVATUI, "--config", str(work / "hosts.toml"), "--state-dir", str(self.state)]
        self.pane = Pane(f"fleet{trial}", self.base, str(root))
        self.serve: subprocess.Popen | None = None
        self.service: int | None = None

    def service_pid(self) -> int:
        """The pid of the service that answers for the state dir (embedded: the console's
        child)."""
        from core.service import wait_for_service
        if self.service is None:
            found = wait_for_service(self.state, 60)
            if found is None:
                raise TimeoutError(f"no service answered for {self.state}")
            self.service = found["pid"]
        return self.service

    def script(self):
        from core.cli import attach
        return attach(f"unix:{self.state / 'api.sock'}", False)


@contextmanager
def console(src: Path, hosts_n: int, mode: str, trial: int, root: Path = ROOT,
            at_answer: bool = False):
    """Yields a Launch whose console has not started yet (pane.start() is the caller's, so
    that it can time it); stops the console and its service after. Attached, the console
    attaches to a service that runs already: once its hosts' start-up is done (a second
    under 2 % of a core), or with at_answer as soon as it answers (at 5,000 instances it
    then still connects its 50 hosts and sweeps their folders, on both cores, for 0.3-1.5 s)."""
    from core.service import wait_for_service
    with tempfile.TemporaryDirectory(prefix="novatui-fleet-") as tmp:
        work = Path(tmp)
        write_inventory(work / "hosts.toml", hosts_n)   # the product's defaults
        shutil.copytree(src / "state", work / "state", symlinks=True)
        os.sync()   # the copy (4 GB at 5,000: disks) is written out now, not during the start
        run = Launch(work, trial, root)
        try:
            if mode == "attached":
                run.serve = subprocess.Popen([*run.base, "serve"], cwd=root,
                                             stderr=subprocess.DEVNULL)
                if wait_for_service(run.state, 120, run.serve) is None:
                    raise RuntimeError(f"novatui serve did not start (exit {run.serve.poll()})")
                if not at_answer:
                    settle([run.serve.pid], quiet=1)
            yield run
        finally:
            run.pane.close()
            if run.serve:
                run.serve.terminate()
                run.serve.wait(120)
            elif run.service is not None:   # the console's child: it stops with the console
                reap(run.service)


def launch(src: Path, n: int, hosts_n: int, mode: str, trial: int, bulk: bool) -> dict:
    """One launch of the console on a fresh copy of the populated state: its figures."""
    out: dict = {}
    with console(src, hosts_n, mode, trial) as run:
        pane = run.pane
        t0 = time.perf_counter()
        pane.start()
        out["start"], screen = pane.wait(full_table(n, name(0, n)), 120, since=t0)
        out["garbled"] = bool(garbled_rows(screen))
        if out["garbled"]:
            # tmux ignores the synchronized-output marks around a frame: a capture can
            # catch one half drawn (rows cut mid-line, whole 20 ms later). Garbled is
            # what a second look still shows.
            time.sleep(0.05)
            out["garbled"] = bool(garbled_rows(screen := pane.screen()))
        if out["garbled"]:   # kept to be looked at: it is rare
            with open(Path(tempfile.gettempdir()) / "novatui-fleet-garbled.txt", "a") as f:
                f.write(f"{n} {mode} launch {trial}\n{screen}\n")
        time.sleep(1.0)
        out["garbled_after_1s"] = bool(garbled_rows(pane.screen()))
        pane.keys("G")
        out["last_row"], _ = pane.wait(lambda s: name(n - 1, n) in rows(s, "instances"))
        pane.keys("Home")
        pane.wait(lambda s: name(0, n) in rows(s, "instances"))
        service = run.service_pid()
        time.sleep(2.0)
        out["settle"] = settle([pane.pid, service])
        out["idle"] = idle_cpu([pane.pid, service], 10.0)
        out["key"] = [press(pane, k, name(0, n), status) for k, status in KEYS * 3]
        script = run.script()
        try:
            out["other"] = others(pane, script, [name(i, n) for i in range(1, 11)])
            out["host"] = hosts(pane, script, "h01")
            out["cli"] = cli(run.base, name(11, n))
            if bulk:
                uuids = sorted(i["uuid"] for i in script.instances())[:1000]
                out["bulk"] = bulk_pauses(script, uuids, 1)
                out["bulk8"] = bulk_pauses(script, uuids, 8)
        finally:
            script.close()
        out["rss"] = page_through(pane, n)
        out["rss_service"] = rss_mb(service)
    return out


def press(pane: Pane, key: str, row: str, status: str) -> float:
    t = time.perf_counter()
    pane.keys(key)
    took, _ = pane.wait(instance_status(row, status), 30, since=t)
    time.sleep(0.1)
    return took


def others(pane: Pane, script, names: list[str]) -> list[float]:
    out = []
    for action, status in (("pause", "PAUSED"), ("unpause", "ACTIVE")):
        for row in names:
            t = time.perf_counter()
            script.request(action, row)
            took, _ = pane.wait(instance_status(row, status), 30, since=t)
            out.append(took)
    return out


def hosts(pane: Pane, script, host: str) -> list[float]:
    steps = ((dict(enabled=False, reason="bench"), "Status", "disabled"),
             (dict(enabled=True), "Status", "enabled"),
             (dict(enabled=True, forced_down=True), "State", "down"),
             (dict(enabled=True, forced_down=False), "State", "up"))
    out = []
    for kw, column, value in steps:
        t = time.perf_counter()
        script.set_host(host, **kw)
        took, _ = pane.wait(host_cell(host, column, value), 30, since=t)
        out.append(took)
    return out


def cli(base: list[str], row: str, runs: int = 3) -> list[float]:
    """`novatui server pause` (then unpause) as whole processes, from this checkout: the
    venv's `novatui` entry point would import whichever checkout is installed (editable),
    not the one being measured."""
    out = []
    for _ in range(runs):
        for verb in ("pause", "unpause"):
            t = time.perf_counter()
            subprocess.run([*base, "server", verb, row], check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL)
            out.append(time.perf_counter() - t)
    return out


def bulk_pauses(script, uuids: list[str], threads: int) -> float:
    """Requests per second, from the first sent to the last finished: `threads` senders,
    each pausing its share by id, one request after another, then waiting for them all."""
    def send(action: str, share: list[str]) -> list:
        return [script.request(action, u) for u in share]

    rates = {}
    for action in ("pause", "unpause"):
        shares = [uuids[i::threads] for i in range(threads)]
        t = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            requests = [r for sent in pool.map(lambda s: send(action, s), shares) for r in sent]
        for r in requests:
            script.wait(r, 600)
        rates[action] = len(uuids) / (time.perf_counter() - t)
    return rates["pause"]


def page_through(pane: Pane, n: int) -> float:
    last = name(n - 1, n)
    screen = pane.screen()
    for _ in range(n // PAGE_ROWS + 2):
        if last in rows(screen, "instances"):
            break
        pane.keys("PageDown")
        _, screen = pane.wait(lambda s, before=screen: s != before, 10)
    pane.wait(lambda s: last in rows(s, "instances"), 10)
    return rss_mb(pane.pid)


def populate(cache: Path, n: int, hosts_n: int) -> Path:
    """A state dir with n instances on hosts_n simulated hosts, made once and kept."""
    from bench.service import populate as create_instances
    from core.config import load_config
    src = cache / f"{n}x{hosts_n}"
    if (src / "ready").exists():
        return src
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    create_instances(load_config(write_inventory(src / "hosts.toml", hosts_n)), src / "state", n)
    (src / "ready").touch()
    return src


def med(values) -> float:
    return statistics.median(values)


def p99(values) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(0.99 * len(values)))]


def report(size: str, mode: str, runs: list[dict], floors: dict) -> None:
    flat = lambda key: [v for r in runs for v in r[key]]  # noqa: E731
    ms = lambda v: f"{v * 1000:.0f} ms" if v >= 0.01 else f"{v * 1000:.3f} ms"  # noqa: E731
    lines = [
        ("start -> full table", ms(med([r["start"] for r in runs])) + " (each: "
         + ", ".join(f"{r['start'] * 1000:.0f}" for r in runs) + ")", ms(floors["start"])),
        ("  G -> last row", ms(med([r["last_row"] for r in runs])), ""),
        ("  garbled first rows", f"{sum(r['garbled'] for r in runs)}/{len(runs)} launches, "
         f"{sum(r['garbled_after_1s'] for r in runs)} still after 1 s", ""),
        ("key -> new state (p/p/o/s)", ms(med(flat("key"))), ms(floors["suspend"])),
        ("other process -> row", f"{ms(med(flat('other')))}, p99 {ms(p99(flat('other')))}",
         ms(floors["suspend"])),
        ("host change -> hosts row", f"{ms(med(flat('host')))}, max {ms(max(flat('host')))}", ""),
        ("idle CPU, 10 s", f"{med([r['idle'] for r in runs]):.2f} % of a core (start-up "
         f"done {med([r['settle'] for r in runs]) + 2:.1f} s after the table)", ""),
        ("RSS after paging all rows", f"{med([r['rss'] for r in runs]):.0f} MB (service "
         f"{med([r['rss_service'] for r in runs]):.0f} MB)", ""),
        ("`novatui server pause` process", ms(med(flat("cli"))), ms(floors["virsh"]) + " virsh"),
    ]
    if "bulk" in runs[0]:
        lines.append(("1,000 script pauses, 1 sender", f"{med([r['bulk'] for r in runs]):.0f}/s",
                      f"{1 / floors['suspend']:.0f}/s"))
        lines.append(("  8 senders", f"{med([r['bulk8'] for r in runs]):.0f}/s", ""))
    print(f"\n{size}, {mode}, {len(runs)} launches (medians)")
    print(f"  {'figure':<32} {'novatui':<34} floor")
    for label, value, fl in lines:
        print(f"  {label:<32} {value:<34} {fl}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000x20,5000x50", help="INSTANCESxHOSTS,...")
    ap.add_argument("--modes", default="embedded,attached")
    ap.add_argument("--launches", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "novatui-fleet")
    args = ap.parse_args()
    try:
        for size in args.sizes.split(","):
            n, hosts_n = (int(x) for x in size.split("x"))
            src = populate(args.cache, n, hosts_n)
            floors = floor.measure(src)
            for mode in args.modes.split(","):
                runs = [launch(src, n, hosts_n, mode, i, bulk=n <= 1000) for i in range(args.launches)]
                report(f"{n} instances / {hosts_n} hosts", mode, runs, floors)
    finally:
        kill_server()


if __name__ == "__main__":
    main()
