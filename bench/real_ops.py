"""Per-operation latency on a real libvirtd + QEMU (scripts/real-hosts up first): each
operation through the engine (request -> done) beside the same libvirt call made directly
on a guest of the same shape. The difference is the engine's overhead.

Usage: python bench/real_ops.py [--rounds N]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import libvirt  # noqa: E402

from core.config import load_config  # noqa: E402
from core.engine import Engine  # noqa: E402
from core.virt_xml import build_domain_xml  # noqa: E402

OPS = [("pause", "suspend"), ("unpause", "resume"), ("suspend", "managedSave"),
       ("resume", "create"), ("reboot_hard", "destroy+create"), ("snapshot", None)]


def inventory(tmp: Path) -> Path:
    env = dict(line.split("=", 1) for line in (ROOT / ".real-hosts" / "env").read_text().split())
    image = tmp / "blank.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"], check=True)
    text = (ROOT / "tests" / "real" / "hosts.toml.in").read_text()
    for key, value in {"@LOCAL_PATH@": tmp / "local", "@REMOTE_PATH@": tmp / "remote",
                       "@PORT@": env["NOVATUI_REAL_SSH_PORT"], "@KEY@": env["NOVATUI_REAL_SSH_KEY"],
                       "@KNOWN_HOSTS@": env["NOVATUI_REAL_KNOWN_HOSTS"], "@IMAGE@": image,
                       "@RESCUE_IMAGE@": image}.items():
        text = text.replace(key, str(value))
    (tmp / "hosts.toml").write_text(text)
    return tmp / "hosts.toml"


def direct(conn, tmp: Path, op: str, dom) -> float:
    start = time.perf_counter()
    if op == "suspend":
        dom.suspend()
    elif op == "resume":
        dom.resume()
    elif op == "managedSave":
        dom.managedSave(0)
    elif op == "create":
        dom.createWithFlags(0)
    elif op == "destroy+create":
        dom.destroy()
        dom.createWithFlags(0)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    subprocess.run([str(ROOT / "scripts" / "real-hosts"), "up"], check=True)
    with tempfile.TemporaryDirectory(prefix="novatui-real-bench-") as tmp:
        tmp = Path(tmp)
        config = load_config(inventory(tmp))
        results = {op: [] for op, _ in OPS}
        floor = {call: [] for _, call in OPS if call}
        with Engine(config, tmp / "state") as engine:
            start = time.perf_counter()
            engine.wait(engine.create("bench", "r1.micro", "blank", "az1"), 120)
            launch = time.perf_counter() - start
            for r in range(args.rounds):
                for op, _ in OPS:
                    params = {"name": f"bench-snap-{r}"} if op == "snapshot" else {}
                    t = time.perf_counter()
                    engine.wait(engine.request(op, "bench", **params), 120)
                    results[op].append(time.perf_counter() - t)
            engine.wait(engine.request("force_delete", "bench"), 120)
        conn = libvirt.open("qemu:///system")
        inst = {"uuid": "0000bead-0000-4000-8000-000000000001", "name": "floor", "flavor": "r1.micro",
                "memory_mb": 64, "root_gb": 1, "vcpus": 1, "image_id": "", "created_at": time.time(), "host": "local"}
        disk = tmp / "floor.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
        t = time.perf_counter()
        dom = conn.defineXML(build_domain_xml(inst, disk, "qemu", "qcow2"))
        dom.createWithFlags(0)
        launch_floor = time.perf_counter() - t
        for _ in range(args.rounds):
            for _, call in OPS:
                if call:
                    floor[call].append(direct(conn, tmp, call, dom))
        dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
        conn.close()
    print(f"QEMU (TCG) guest, 64 MiB, qcow2 overlay; median of {args.rounds} rounds")
    print(f"{'operation':<12} {'engine ms':>10} {'libvirt call':>15} {'direct ms':>10} {'overhead ms':>12}")
    print(f"{'launch':<12} {launch * 1000:>10.0f} {'define+create':>15} {launch_floor * 1000:>10.0f} "
          f"{(launch - launch_floor) * 1000:>12.0f}")
    for op, call in OPS:
        e = statistics.median(results[op]) * 1000
        d = statistics.median(floor[call]) * 1000 if call else float("nan")
        print(f"{op:<12} {e:>10.1f} {call or '-':>15} {d:>10.1f} {e - d:>12.1f}")


if __name__ == "__main__":
    main()
