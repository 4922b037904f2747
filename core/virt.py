"""The libvirt driver: guest power operations and host facts (the domain XML: virt_xml).

`LibvirtDriver` drives any libvirt URI; `SimulatedDriver` is a libvirt test-driver node whose
state is saved to the state dir after every change and restored at start. Every call here
runs on the owning compute service's thread, never on a caller's.
"""
from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import libvirt

from . import states as S
from .config import HostConfig
from .errors import DriverError
from .hostfiles import LocalFiles, RemoteFiles
from .transport import copy_disk
from .virt_images import ImageWork
from .virt_moves import MoveWork
from .virt_xml import PLACEMENT_NS, build_domain_xml


# Keep libvirt from printing its errors to stderr: they arrive as exceptions.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

_event_loop_lock = threading.Lock()
_event_loop_started = False


def start_event_loop() -> None:
    """libvirt's default event loop on a daemon thread, once per process, before any
    connection opens: it delivers domain lifecycle events and keepalives."""
    global _event_loop_started
    with _event_loop_lock:
        if _event_loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()

        def run():
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="novatui-libvirt-events", daemon=True).start()
        _event_loop_started = True


class LibvirtDriver(ImageWork, MoveWork):
    domain_type = "qemu"

    def __init__(self, host: HostConfig, state_dir: Path):
        self.host = host
        self.state_dir = state_dir
        self.conn: libvirt.virConnect | None = None
        self.files = host_files(host, state_dir)
        self.image_files = LocalFiles(state_dir / "images")

    @property
    def uri(self) -> str:
        return self.host.uri

    # -- connection and host facts -----------------------------------------------------
    def connect_uri(self) -> str:
        return driver_uri(self.host, self.state_dir)

    def connect(self, on_event=None) -> None:
        try:
            self.conn = libvirt.open(self.connect_uri())
            if not self.host.simulated:
                self.conn.setKeepAlive(5, 3)
            if on_event is not None:
                self.conn.domainEventRegisterAny(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                    lambda _c, dom, event, _d, _o: on_event(dom.UUIDString(), event), None)
        except libvirt.libvirtError as e:
            raise DriverError(f"cannot connect to {self.host.name} ({self.uri}): "
                              f"{e.get_error_message()}") from None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except libvirt.libvirtError:
                pass
            self.conn = None

    def alive(self) -> bool:
        try:
            return self.conn is not None and self.conn.isAlive() == 1
        except libvirt.libvirtError:
            return False

    def resources(self) -> dict:
        """vCPUs, RAM and disk of the host: configured sizes win, libvirt fills the rest."""
        info = self.conn.getInfo()  # [model, memory MiB, cpus, mhz, nodes, sockets, cores, threads]
        disk_gb = self.host.disk_gb or self.files.free_disk_gb()
        return {"vcpus": self.host.vcpus or info[2], "memory_mb": self.host.memory_mb or info[1],
                "disk_gb": disk_gb}

    # -- guests ------------------------------------------------------------------------
    def _dom(self, uuid: str) -> libvirt.virDomain | None:
        self._touch(uuid)
        try:
            return self.conn.lookupByUUIDString(uuid)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise self._error("lookup", uuid, e) from None

    def _need(self, uuid: str) -> libvirt.virDomain:
        dom = self._dom(uuid)
        if dom is None:
            raise DriverError(f"Instance {uuid} could not be found on {self.host.name}.")
        return dom

    def _error(self, what: str, uuid: str, e: libvirt.libvirtError) -> DriverError:
        return DriverError(f"libvirt {what} failed for {uuid} on {self.host.name}: "
                           f"{e.get_error_message()}")

    def _call(self, what: str, uuid: str, fn, *args):
        try:
            return fn(*args)
        except libvirt.libvirtError as e:
            raise self._error(what, uuid, e) from None

    def _touch(self, uuid: str, redefined: bool = False) -> None:
        """Hook: the guest is about to be looked at or changed (redefined: its definition)."""

    def _changed(self, uuid: str, redefined: bool = False) -> None:
        """Hook for drivers that must persist host state after a change."""

    def _define(self, uuid: str, xml: str) -> libvirt.virDomain:
        self._touch(uuid, redefined=True)
        return self._call("defineXML", uuid, self.conn.defineXML, xml)

    def power_state(self, uuid: str) -> int:
        dom = self._dom(uuid)
        if dom is None:
            return S.NOSTATE
        state = self._call("state", uuid, dom.state)[0]
        if state == libvirt.VIR_DOMAIN_SHUTOFF and dom.hasManagedSaveImage(0):
            return S.SHUTDOWN  # a managed-saved ("suspended") guest is SHUTOFF
        return S.LIBVIRT_POWER.get(state, S.NOSTATE)

    def guests(self) -> dict[str, int]:
        """uuid -> power_state of every guest of this inventory host (a libvirtd shared by
        two inventory hosts, or running guests of its own, keeps the others out)."""
        out = {}
        for dom in self._call("listAllDomains", "*", self.conn.listAllDomains, 0):
            if self._placed_here(dom):
                out[dom.UUIDString()] = S.LIBVIRT_POWER.get(dom.state()[0], S.NOSTATE)
        return out

    def _placed_here(self, dom) -> bool:
        try:
            xml = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, PLACEMENT_NS)
        except libvirt.libvirtError:
            return False  # not a novatui guest
        return ET.fromstring(xml).get("host") == self.host.name

    def disk_path(self, uuid: str):
        return self.files.instance_dir(uuid) / "disk"

    disk_format = "qcow2"

    def base_path(self, image: dict):
        return self.files.root / "_base" / image["id"]

    def ensure_base(self, image: dict, progress=None):
        """Nova's _base cache: each image is copied to a host once, verified."""
        base = self.base_path(image)
        if not self.files.exists(base):
            copy_disk(self.image_files, Path(image["path"]), self.files, base, progress,
                      image.get("checksum") or None)
        return base

    def create_disk(self, uuid: str, image: dict, name: str = "disk", progress=None):
        """A copy-on-write overlay on the cached base. The backing path is relative, so the
        overlay can be copied to another host (or into <uuid>_resize) as it is."""
        self.ensure_base(image, progress)
        folder = self.files.instance_dir(uuid)
        dest = folder / name
        self.files.makedirs(folder)
        self.files.run("qemu-img", "create", "-q", "-f", "qcow2", "-F", image["disk_format"],
                       "-b", f"../_base/{image['id']}", str(dest))
        return dest

    def prepare_disk_for(self, uuid: str, image: dict | None) -> None:
        """Before a moved disk is used here: its base must be in this host's cache."""
        if image is not None:
            self.ensure_base(image)

    def define(self, inst: dict, disk_format: str | None = None, rescue_disk=None) -> libvirt.virDomain:
        xml = build_domain_xml(inst, self.disk_path(inst["uuid"]), self.domain_type,
                               self.disk_format or disk_format, rescue_disk)
        dom = self._define(inst["uuid"], xml)
        self._changed(inst["uuid"], redefined=True)
        return dom

    def define_xml(self, uuid: str, xml: str) -> None:
        self._define(uuid, xml)
        self._changed(uuid, redefined=True)

    def spawn(self, inst: dict, image: dict, start: bool = True) -> None:
        xml = build_domain_xml(inst, self.disk_path(inst["uuid"]), self.domain_type,
                               self.disk_format or image["disk_format"])
        dom = self._define(inst["uuid"], xml)
        if start and not dom.isActive():  # active already: a spawn that runs again
            self._call("create", inst["uuid"], dom.createWithFlags, 0)
        self._changed(inst["uuid"], redefined=True)

    def power_off(self, uuid: str, timeout: float) -> float | None:
        """Ask the guest to shut down, destroy it after `timeout`. Returns how long the guest
        took to shut down by itself, or None when it had to be destroyed."""
        dom = self._need(uuid)
        if dom.state()[0] in (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTDOWN):
            return 0.0
        start = time.monotonic()
        took = None
        try:
            dom.shutdown()
            while time.monotonic() - start <= timeout:
                if dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF:
                    took = time.monotonic() - start
                    break
                time.sleep(min(0.5, max(timeout / 20, 0.01)))
        except libvirt.libvirtError:
            pass  # guests that cannot shut down (paused ones, say) are destroyed below
        if dom.state()[0] != libvirt.VIR_DOMAIN_SHUTOFF:
            self._call("destroy", uuid, dom.destroy)
        self._changed(uuid)
        return took

    def power_on(self, uuid: str) -> None:
        dom = self._need(uuid)
        if dom.state()[0] != libvirt.VIR_DOMAIN_RUNNING:
            self._call("create", uuid, dom.createWithFlags, 0)
        self._changed(uuid)

    def soft_reboot(self, uuid: str, timeout: float) -> bool:
        """virDomainShutdown, wait, start again. False when the guest did not go down."""
        dom = self._need(uuid)
        if dom.state()[0] != libvirt.VIR_DOMAIN_RUNNING:
            return False
        self._call("shutdown", uuid, dom.shutdown)
        deadline = time.monotonic() + timeout
        while dom.state()[0] != libvirt.VIR_DOMAIN_SHUTOFF:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        self._call("create", uuid, dom.createWithFlags, 0)
        self._changed(uuid)
        return True

    def hard_reboot(self, uuid: str) -> None:
        """Destroy (keeping disks), drop any saved state, start again."""
        dom = self._need(uuid)
        if dom.isActive():
            self._call("destroy", uuid, dom.destroy)
        if dom.hasManagedSaveImage(0):
            self._call("managedSaveRemove", uuid, dom.managedSaveRemove, 0)
        self._call("create", uuid, dom.createWithFlags, 0)
        self._changed(uuid)

    def discard_saved_state(self, uuid: str) -> None:
        dom = self._need(uuid)
        if dom.hasManagedSaveImage(0):
            self._call("managedSaveRemove", uuid, dom.managedSaveRemove, 0)
            self._changed(uuid)

    # Each of these does nothing when the guest is already as asked: a step that runs again
    # after a crash finds its work done.
    def pause(self, uuid: str) -> None:
        dom = self._need(uuid)
        if dom.state()[0] != libvirt.VIR_DOMAIN_PAUSED:
            self._call("suspend", uuid, dom.suspend)
        self._changed(uuid)

    def unpause(self, uuid: str) -> None:
        dom = self._need(uuid)
        if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
            self._call("resume", uuid, dom.resume)
        self._changed(uuid)

    def suspend(self, uuid: str) -> None:
        dom = self._need(uuid)
        if dom.isActive() or not dom.hasManagedSaveImage(0):
            self._call("managedSave", uuid, dom.managedSave, 0)
        self._changed(uuid)

    def resume(self, uuid: str) -> None:
        dom = self._need(uuid)
        if not dom.isActive():
            self._call("create", uuid, dom.createWithFlags, 0)
        self._changed(uuid)

    def destroy(self, uuid: str) -> None:
        """Destroy and undefine the guest (with any saved state). Disks stay."""
        dom = self._dom(uuid)
        if dom is None:
            return
        if dom.isActive():
            self._call("destroy", uuid, dom.destroy)
        if self._dom(uuid) is None:
            return  # it was transient: destroying it was the end of it
        flags = (libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                 | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
        self._call("undefine", uuid, dom.undefineFlags, flags)
        self._changed(uuid, redefined=True)

    def delete_files(self, uuid: str):
        path = self.files.instance_dir(uuid)
        self.files.remove_tree(path)
        return path

    def xml(self, uuid: str, inactive: bool = False) -> str | None:
        dom = self._dom(uuid)
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0
        return None if dom is None else self._call("XMLDesc", uuid, dom.XMLDesc, flags)


def host_files(host: HostConfig, state_dir: Path):
    """Where a host's instance files live, and how to reach them (any service may ask: a
    cold migration's source writes to its destination)."""
    ssh = host.ssh
    if ssh is not None:
        return RemoteFiles(ssh.address, ssh.port, ssh.user, ssh.key_file, ssh.known_hosts,
                           host.instances_path)
    if host.simulated:
        return LocalFiles(state_dir / "hosts" / host.name / "instances")
    return LocalFiles(host.instances_path or Path("/var/lib/novatui/instances"), dir_mode=0o711)


def driver_uri(host: HostConfig, state_dir: Path) -> str:
    if host.simulated:
        return f"test://{state_dir / 'hosts' / host.name / 'node.xml'}"
    return connect_uri(host)


def connect_uri(host: HostConfig) -> str:
    """qemu+ssh hosts are reached with libvirt's libssh transport, so that the host key is
    checked against our known_hosts (never added) and our key is used."""
    if not host.uri.startswith("qemu+ssh://") or host.ssh is None:
        return host.uri
    ssh = host.ssh
    query = {"known_hosts": str(ssh.known_hosts), "known_hosts_verify": "normal",
             "sshauth": "privkey" if ssh.key_file else "agent,privkey"}
    if ssh.key_file:
        query["keyfile"] = str(ssh.key_file)
    return urlunsplit(("qemu+libssh", f"{ssh.user}@{ssh.address}:{ssh.port}",
                       urlsplit(host.uri).path or "/system", urlencode(query), ""))


def make_driver(host: HostConfig, state_dir: Path) -> LibvirtDriver:
    from .virt_simulated import SimulatedDriver  # it builds on LibvirtDriver
    return SimulatedDriver(host, state_dir) if host.simulated else LibvirtDriver(host, state_dir)
