"""Floors for the fleet harness: the libvirt calls behind each figure, made directly."""
from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path

import libvirt


def _list_every_host(state: Path) -> float:
    """What the console's first paint needs from the hypervisors: every simulated host's
    domains and their state (open + listAllDomains + info)."""
    t = time.perf_counter()
    for node in sorted((state / "hosts").glob("*/node.xml")):
        conn = libvirt.open(f"test://{node}")
        for dom in conn.listAllDomains():
            dom.info()
        conn.close()
    return time.perf_counter() - t


def suspend_floor(runs: int = 200) -> float:
    """One virDomainSuspend (median of suspend + resume pairs, halved) on test:///default."""
    conn = libvirt.open("test:///default")
    dom = conn.lookupByName("test")
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        dom.suspend()
        dom.resume()
        times.append((time.perf_counter() - t) / 2)
    conn.close()
    return statistics.median(times)


def _virsh(runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(["virsh", "-q", "-c", "test:///default", "suspend", "test"], check=True,
                       stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(src: Path) -> dict:
    return {"start": statistics.median(_list_every_host(src / "state") for _ in range(5)),
            "suspend": suspend_floor(), "virsh": _virsh()}
