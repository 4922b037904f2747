"""Live migration between two libvirt daemons on this machine, through novatui.

"a" is the first libvirtd (scripts/real-hosts), "b" the second (scripts/libvirtd2: its own
host UUID, mount namespace, private /var/lib/novatui and sshd), both reached over qemu+ssh so
that each daemon can reach the other as a peer-to-peer destination (from inside libvirtd2's
namespace, qemu:///system is libvirtd2 itself). A running QEMU guest goes from a to b (host
given) and back (host scheduled) with Nova's flags (live, p2p, persist, undefine source,
copy-storage-inc); and a process killed while libvirt migrates its guest leaves the
migration to be carried through by the next one. Each daemon is checked with libvirt calls
of the test's own, the disks through the hosts' own file transport (b's path exists only
inside its namespace), and tests/invariants.py judges the whole state."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import libvirt_qemu
import pytest

from core.config import load_config
from core.engine import Engine
from core.virt import host_files
from core.virt_xml import PLACEMENT_NS
from tests.conftest import launch_on
from tests.invariants import ROOT, assert_ok, cli, cli_env

pytestmark = pytest.mark.real

RUNNING = libvirt.VIR_DOMAIN_RUNNING
TEMPLATE = Path(__file__).parent / "hosts-two-daemons.toml.in"
# The guest's disk as QEMU's virtio-blk device sees it (libvirt runs QEMU with -blockdev).
DISK_DEVICE = "/machine/peripheral/virtio-disk0/virtio-backend"
MIGRATE_TIMEOUT = 180


class TwoDaemons:
    """hosts.toml for a and b, the engine driving them (stopped while CLI processes drive
    them instead), a libvirt connection to each daemon and each host's files."""

    def __init__(self, real_hosts: dict, libvirtd2: dict, tmp_path: Path):
        self.daemon2 = libvirtd2
        image = tmp_path / "blank.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"], check=True)
        text = TEMPLATE.read_text()
        for key, value in {
                "@A_PORT@": real_hosts["NOVATUI_REAL_SSH_PORT"],
                "@A_KEY@": real_hosts["NOVATUI_REAL_SSH_KEY"],
                "@A_KNOWN_HOSTS@": real_hosts["NOVATUI_REAL_KNOWN_HOSTS"],
                "@A_PATH@": tmp_path / "a",
                "@B_PORT@": libvirtd2["NOVATUI_LIBVIRTD2_SSH_PORT"],
                "@B_KEY@": libvirtd2["NOVATUI_LIBVIRTD2_SSH_KEY"],
                "@B_KNOWN_HOSTS@": libvirtd2["NOVATUI_LIBVIRTD2_KNOWN_HOSTS"],
                "@B_PATH@": f"/var/lib/novatui/instances-{uuidlib.uuid4().hex[:12]}",
                "@IMAGE@": image}.items():
            text = text.replace(key, str(value))
        self.config_path = tmp_path / "hosts.toml"
        self.config_path.write_text(text)
        self.config = load_config(self.config_path)
        self.state_dir = tmp_path / "state"
        self.engine: Engine | None = None
        self.conns = {"a": libvirt.open("qemu:///system"),
                      "b": libvirt.open(libvirtd2["NOVATUI_LIBVIRTD2_URI"])}
        self.files = {h: host_files(self.config.host(h), self.state_dir) for h in ("a", "b")}

    def start(self) -> Engine:
        self.engine = Engine(self.config, self.state_dir).start()
        return self.engine

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()
            self.engine = None

    def close(self) -> None:
        engine = self.engine or self.start()
        for inst in engine.instances():  # leave no guest behind on either daemon
            try:
                engine.wait(engine.request("force_delete", inst["uuid"]), 60)
            except Exception:  # noqa: BLE001
                pass
        self.stop()
        try:
            self.files["b"].remove_tree(self.files["b"].root)  # a's is under tmp_path
        finally:
            for folder in self.files.values():
                folder.close()
            for conn in self.conns.values():
                conn.close()

    def disk(self, host: str, uuid: str):
        return self.files[host].instance_dir(uuid) / "disk"

    def placement(self, host: str, uuid: str) -> str | None:
        """The novatui host named by the daemon's definition of the guest; None: none."""
        try:
            dom = self.conns[host].lookupByUUIDString(uuid)
        except libvirt.libvirtError as e:
            assert e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN, e
            return None
        tag = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, PLACEMENT_NS)
        return ET.fromstring(tag).get("host")

    def only_on(self, host: str, uuid: str) -> None:
        """Defined, persistent and running on `host`'s daemon, tagged for it; not on the other."""
        other = {"a": "b", "b": "a"}[host]
        dom = self.conns[host].lookupByUUIDString(uuid)
        assert dom.state()[0] == RUNNING and dom.isPersistent()
        assert self.placement(host, uuid) == host and self.placement(other, uuid) is None
        assert self.files[host].exists(self.disk(host, uuid))
        assert not self.files[other].exists(self.files[other].instance_dir(uuid))

    def hmp_io(self, host: str, uuid: str, command: str) -> None:
        """A qemu-io command on the running guest's disk, inside its QEMU (to the disk, the
        guest's own writes)."""
        dom = self.conns[host].lookupByUUIDString(uuid)
        out = libvirt_qemu.qemuMonitorCommand(dom, f'qemu-io -d {DISK_DEVICE} "{command}"',
                                              libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
        assert not out.strip(), f"qemu-io {command}: {out}"

    def guest_content(self, host: str, uuid: str) -> str:
        """sha256 of what the guest sees on its disk (overlay over backing, read as raw) once
        its QEMU has flushed, taken on the disk's own host: a block migration rewrites the
        qcow2 file, not what it holds."""
        self.hmp_io(host, uuid, "flush")
        script = ('t=$(mktemp) || exit 1; qemu-img convert -U -O raw "$1" "$t" && sha256sum "$t"; '
                  's=$?; rm -f "$t"; exit $s')
        return self.files[host].run("sh", "-c", script, "guest-content",
                                    str(self.disk(host, uuid))).split()[0]

    def backing(self, host: str, uuid: str) -> str:
        info = json.loads(self.files[host].run("qemu-img", "info", "-U", "--output=json",
                                               str(self.disk(host, uuid))))
        return info.get("backing-filename", "")


@pytest.fixture
def cloud(real_hosts, libvirtd2, tmp_path):
    private = libvirtd2["NOVATUI_LIBVIRTD2_PRIVATE_PATHS"].split(":")
    if "/var/lib/novatui" not in private:
        pytest.fail(f"libvirtd2 does not keep /var/lib/novatui private (it keeps {private}): "
                    "b's disks would be a's")
    two = TwoDaemons(real_hosts, libvirtd2, tmp_path)
    two.start()
    yield two
    two.close()


def host_uuid(conn) -> str:
    return ET.fromstring(conn.getCapabilities()).findtext("./host/uuid")


def migrate(engine: Engine, name: str, **host) -> dict:
    req = engine.request("live_migrate", name, **host)
    engine.wait(req, MIGRATE_TIMEOUT)
    return engine.store.get_instance(req.instance_uuid)


def test_live_migration_between_two_daemons_and_back(cloud):
    e, conns = cloud.engine, cloud.conns
    assert host_uuid(conns["b"]) == cloud.daemon2["NOVATUI_LIBVIRTD2_HOST_UUID"] != host_uuid(conns["a"])
    inst = launch_on(e, "a", "lm", "r1.micro", "blank")
    uuid = inst["uuid"]
    assert (inst["host"], inst["vm_state"]) == ("a", "active"), e.fault(uuid)
    cloud.only_on("a", uuid)
    # guest data in the overlay, written by the running QEMU: the copy has work to do
    for offset, pattern in (("1M", "0x5a"), ("9M", "0xa5"), ("33M", "0x3c")):
        cloud.hmp_io("a", uuid, f"write -P {pattern} {offset} 64k")
    content = cloud.guest_content("a", uuid)
    base = f"../_base/{inst['image_id']}"
    assert cloud.backing("a", uuid) == base

    moved = migrate(e, "lm", host="b")
    assert (moved["host"], moved["vm_state"], moved["task_state"]) == ("b", "active", None), e.fault(uuid)
    assert e.store.list_migrations(uuid)[-1]["status"] == "completed"
    cloud.only_on("b", uuid)
    # an incoming migration, not a guest started afresh
    stats = conns["b"].lookupByUUIDString(uuid).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    assert stats.get("operation") == libvirt.VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN, stats
    assert cloud.files["b"].root != cloud.files["a"].root and cloud.backing("b", uuid) == base
    assert cloud.guest_content("b", uuid) == content
    assert_ok(cloud.state_dir, cloud.config_path)

    back = migrate(e, "lm")  # scheduled: a is the only other host
    assert (back["host"], back["vm_state"], back["task_state"]) == ("a", "active", None), e.fault(uuid)
    cloud.only_on("a", uuid)
    assert cloud.guest_content("a", uuid) == content
    assert_ok(cloud.state_dir, cloud.config_path)


def test_a_process_killed_while_libvirt_migrates_leaves_it_to_the_next(cloud):
    """SIGKILL to the CLI while libvirt copies the guest: the daemon carries its migration on,
    and the next process waits for it to end before it looks, then finds the guest on b."""
    inst = launch_on(cloud.engine, "a", "killed", "r1.micro", "blank")
    uuid = inst["uuid"]
    cloud.hmp_io("a", uuid, "write -P 0x11 0 8M")  # 8 MiB to copy at 2 MiB/s: a few seconds
    content = cloud.guest_content("a", uuid)
    cloud.stop()  # CLI processes drive the hosts from here
    dom = cloud.conns["a"].lookupByUUIDString(uuid)
    dom.migrateSetMaxSpeed(2, 0)
    cmd = [sys.executable, "-m", "core.cli", "--config", str(cloud.config_path), "--state-dir",
           str(cloud.state_dir), "server", "migrate", "--live", "--host", "b", "killed"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while dom.jobInfo()[0] == libvirt.VIR_DOMAIN_JOB_NONE:
            assert proc.poll() is None and time.monotonic() < deadline, \
                f"no migration job seen; the CLI said: {proc.stderr.read() if proc.poll() is not None else ''}"
            time.sleep(0.02)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert dom.jobInfo()[0] != libvirt.VIR_DOMAIN_JOB_NONE, "the migration ended before the kill"
    restart = cli(cloud.config_path, cloud.state_dir, "server", "list", timeout=MIGRATE_TIMEOUT)
    assert restart.returncode == 0, restart.stderr
    assert_ok(cloud.state_dir, cloud.config_path)
    e = cloud.start()
    after = e.instance("killed")
    assert (after["host"], after["vm_state"], after["task_state"]) == ("b", "active", None), e.fault(uuid)
    assert e.store.list_migrations(uuid)[-1]["status"] == "completed"
    cloud.only_on("b", uuid)
    assert cloud.guest_content("b", uuid) == content
