"""Engine throughput: launch 500 instances across 20 simulated hosts, then pause, unpause and
delete them all through the engine, and print operations per second beside two floors:

  libvirt floor   the same libvirt calls made directly in a loop (defineXML + create,
                  suspend, resume, destroy + undefine) on 20 test-driver connections;
  host floor      the libvirt floor plus the host work each operation must do (copy the
                  image to an instance disk, remove it; write the node file after a launch
                  or a delete, journal the run state after a pause or an unpause).

Usage: python bench/engine_ops.py [--instances N] [--hosts H]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import libvirt  # noqa: E402

from core.config import load_config  # noqa: E402
from core.engine import Engine  # noqa: E402
from core.virt_xml import build_domain_xml  # noqa: E402
from core.virt_simulated import SimulatedDriver  # noqa: E402

PHASES = ("launch", "pause", "unpause", "delete")


def write_inventory(path: Path, hosts: int, sync: float | None = None) -> Path:
    """sync None: the product's default sync_power_state_interval."""
    lines = []
    for i in range(hosts):
        lines += ["[[hosts]]", f'name = "h{i:02d}"', 'uri = "test:///"',
                  f'availability_zone = "az{i % 2}"', "vcpus = 64", "memory_mb = 262144",
                  "disk_gb = 4000", ""]
    lines += ["[[flavors]]", 'name = "m1.tiny"', "vcpus = 1", "ram_mb = 512", "disk_gb = 1", "",
              "[[images]]", 'name = "cirros"', "size_mb = 1", "",
              "[network]", 'cidr = "10.0.0.0/20"', "",
              *(["[compute]", f"sync_power_state_interval = {sync}", ""] if sync else [])]
    path.write_text("\n".join(lines))
    return path


def run_engine(config, state_dir: Path, n: int) -> dict[str, float]:
    rates = {}
    with Engine(config, state_dir) as engine:
        start = time.perf_counter()
        reqs = [engine.create(f"vm{i:04d}", "m1.tiny", "cirros") for i in range(n)]
        for r in reqs:
            assert engine.wait(r, 600)["message"] is None
        rates["launch"] = n / (time.perf_counter() - start)
        names = [f"vm{i:04d}" for i in range(n)]
        for action in ("pause", "unpause", "delete"):
            start = time.perf_counter()
            reqs = [engine.request(action, name) for name in names]
            for r in reqs:
                assert engine.wait(r, 600)["message"] is None
            rates[action] = n / (time.perf_counter() - start)
        assert engine.instances() == []
    return rates


def run_floor(config, state_dir: Path, n: int, host_work: bool) -> dict[str, float]:
    """The same libvirt calls, made directly, one connection per simulated host."""
    drivers = [SimulatedDriver(h, state_dir) for h in config.hosts]
    for d in drivers:
        d.connect()
    image = next(state_dir.glob("images/*.raw")) if host_work else None
    insts = [{"uuid": f"{i:08x}-0000-4000-8000-000000000000", "name": f"vm{i:04d}", "flavor": "m1.tiny",
              "memory_mb": 512, "root_gb": 1, "vcpus": 1, "image_id": "x", "created_at": time.time()}
             for i in range(n)]
    placed = [(drivers[i % len(drivers)], inst) for i, inst in enumerate(insts)]
    rates = {}

    def phase(name, fn):
        start = time.perf_counter()
        for drv, inst in placed:
            fn(drv, inst)
            if host_work:   # what the driver's own operations do after theirs
                drv._changed(inst["uuid"], redefined=name in ("launch", "delete"))
        rates[name] = n / (time.perf_counter() - start)

    def launch(drv, inst):
        disk = drv.disk_path(inst["uuid"])
        if host_work:
            drv.files.put_file(image, disk)
        dom = drv.conn.defineXML(build_domain_xml(inst, disk, "test"))
        dom.createWithFlags(0)

    def delete(drv, inst):
        dom = drv.conn.lookupByUUIDString(inst["uuid"])
        dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
        if host_work:
            drv.files.remove_tree(drv.files.instance_dir(inst["uuid"]))

    phase("launch", launch)
    phase("pause", lambda d, i: d.conn.lookupByUUIDString(i["uuid"]).suspend())
    phase("unpause", lambda d, i: d.conn.lookupByUUIDString(i["uuid"]).resume())
    phase("delete", delete)
    for d in drivers:
        d.close()
    return rates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--instances", type=int, default=500)
    p.add_argument("--hosts", type=int, default=20)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="novatui-bench-") as tmp:
        tmp = Path(tmp)
        config = load_config(write_inventory(tmp / "hosts.toml", args.hosts))
        engine = run_engine(config, tmp / "engine", args.instances)
        shutil.copytree(tmp / "engine" / "images", tmp / "floor" / "images")
        libvirt_floor = run_floor(config, tmp / "floor-libvirt", args.instances, host_work=False)
        host_floor = run_floor(config, tmp / "floor", args.instances, host_work=True)
    print(f"{args.instances} instances on {args.hosts} simulated hosts (libvirt test driver)")
    print(f"{'operation':<10} {'engine ops/s':>13} {'host floor':>11} {'libvirt floor':>14} "
          f"{'engine/host':>12}")
    for ph in PHASES:
        print(f"{ph:<10} {engine[ph]:>13.0f} {host_floor[ph]:>11.0f} {libvirt_floor[ph]:>14.0f} "
              f"{engine[ph] / host_floor[ph]:>11.0%}")


if __name__ == "__main__":
    main()
