"""The libvirt driver's side of moves: Nova's cold migration (power off, keep the disk and the
definition beside the instance directory, give them back on revert) and its peer-to-peer
block live migration. Mixed into LibvirtDriver; every call runs on the compute service's
thread that owns the driver."""
from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET

import libvirt

from .errors import DriverError
from .virt_xml import PLACEMENT_NS


class MoveWork:
    def resize_dir(self, uuid: str):
        return self.files.root / f"{uuid}_resize"

    def migrate_disk_and_power_off(self, uuid: str, timeout: float):
        """Source side of a cold move: power off, keep the definition and the disk in
        <uuid>_resize, and undefine here. Returns the disk's path in <uuid>_resize.

        Each part checks what is done already, so it can run again after a crash at any
        point; nothing is ever deleted here."""
        folder, kept = self.files.instance_dir(uuid), self.resize_dir(uuid)
        if self._dom(uuid) is not None:
            if not self.files.exists(kept):
                self.files.write_text(folder / "domain.xml", self.xml(uuid, inactive=True))
            self.power_off(uuid, timeout)
        if self.files.exists(folder):
            if self.files.exists(kept):
                raise DriverError(f"both {folder} and {kept} exist on {self.host.name}; "
                                  "refusing to choose between two copies of a disk")
            self.files.rename(folder, kept)
        if not self.files.exists(kept / "disk"):
            raise DriverError(f"the disk of {uuid} is in neither {folder} nor {kept} on "
                              f"{self.host.name}")
        self.destroy(uuid)
        return kept / "disk"

    def restore_resize_source(self, uuid: str, start: bool) -> None:
        """Undo migrate_disk_and_power_off: the source takes its disk and definition back.
        The caller has made sure that a copy in the instance directory (a resize to the same
        host) may go."""
        kept, folder = self.resize_dir(uuid), self.files.instance_dir(uuid)
        if self.files.exists(kept):
            self.files.remove_tree(folder)
            self.files.rename(kept, folder)
        self.define_xml(uuid, self.files.read_text(folder / "domain.xml"))
        if start:
            self.power_on(uuid)

    def confirm_migration(self, uuid: str) -> None:
        self.files.remove_tree(self.resize_dir(uuid))

    def pre_live_migration(self, uuid: str, peer):
        """The destination's disk before a block migration, made over the destination's file
        transport as Nova's pre_live_migration makes it: an empty qcow2 overlay with the
        source disk's backing (relative, into the destination's _base) and virtual size.
        libvirt does not make it (copy-storage-inc: "pre-creation of storage targets for
        incremental storage migration is not supported"). Made again on every run: qemu-img
        create cannot take the write lock of a disk a QEMU has open, so a guest's live disk
        (a source and destination on one path, or a guest already there) is never replaced.
        Returns the disk's path on the destination."""
        folder = peer.instance_dir(uuid)
        dest = folder / "disk"
        if self.disk_format != "qcow2":  # a simulated host: its driver refuses live migration
            peer.makedirs(folder)
            return dest
        dom = self._need(uuid)
        if not self._call("isActive", uuid, dom.isActive):
            raise DriverError(f"Instance {uuid} is not running on {self.host.name}; only a "
                              "running or paused guest can be live migrated")
        info = json.loads(self.files.run("qemu-img", "info", "-U", "--output=json",
                                         str(self.disk_path(uuid))))
        peer.makedirs(folder)
        backing = ["-F", info.get("backing-filename-format") or "raw", "-b",
                   info["backing-filename"]] if info.get("backing-filename") else []
        peer.run("qemu-img", "create", "-q", "-f", "qcow2", *backing, str(dest),
                 str(info["virtual-size"]))
        return dest

    def migration_running(self, uuid: str) -> bool:
        """Whether libvirt runs a job on the guest here (a migration a dead process started
        goes on in the daemon)."""
        dom = self._dom(uuid)
        if dom is None:
            return False
        try:
            return dom.jobInfo()[0] != libvirt.VIR_DOMAIN_JOB_NONE
        except libvirt.libvirtError as e:
            if e.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_SUPPORT,
                                      libvirt.VIR_ERR_OPERATION_INVALID):
                return False  # gone, not running (no job then), or a driver without jobs
            raise self._error("jobInfo", uuid, e) from None

    def wait_for_migration(self, uuid: str, interval: float = 0.5) -> None:
        while self.migration_running(uuid):
            time.sleep(interval)

    def rollback_live_migration_at_destination(self, uuid: str, peer) -> bool:
        """After a live migration that failed: the destination's copy goes, only while the
        guest provably lives here (active, no job left) and nothing has that copy open
        (qemu-img takes its lock). True when nothing of it is left."""
        folder = peer.instance_dir(uuid)
        if not peer.exists(folder):
            return True
        dom = self._dom(uuid)
        if dom is None or not dom.isActive() or self.migration_running(uuid):
            return False
        if peer.exists(folder / "disk"):
            try:
                peer.run("qemu-img", "info", str(folder / "disk"))  # fails if a QEMU holds it
            except DriverError:
                return False
        peer.remove_tree(folder)
        return True

    def live_migrate(self, uuid: str, dest_uri: str, dest_host: str, dest_disk=None) -> None:
        """migrateToURI3 with Nova's flags; the definition sent to the destination carries
        the destination's placement tag and its disk path (instances_path may differ from
        host to host)."""
        dom = self._need(uuid)
        flags = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
                 | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
                 | libvirt.VIR_MIGRATE_NON_SHARED_INC)
        root = ET.fromstring(self._call("XMLDesc", uuid, dom.XMLDesc, libvirt.VIR_DOMAIN_XML_MIGRATABLE))
        for tag in root.iter(f"{{{PLACEMENT_NS}}}placement"):
            tag.set("host", dest_host)
        if dest_disk is not None:
            for source in root.iterfind("./devices/disk/source"):
                if source.get("file") == str(self.disk_path(uuid)):
                    source.set("file", str(dest_disk))
        params = {libvirt.VIR_MIGRATE_PARAM_DEST_XML: ET.tostring(root, encoding="unicode")}
        try:
            dom.migrateToURI3(dest_uri, params, flags)
        except libvirt.libvirtError as e:
            raise DriverError(f"libvirt refused to live migrate {uuid} from {self.host.name} to "
                              f"{dest_uri}: {e.get_error_message()}") from None
        self._changed(uuid, redefined=True)
