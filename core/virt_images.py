"""The libvirt driver's image work: Nova's cold snapshot (a running guest managed-saved while
its disk is copied), a rebuild's new disk, rescue and unrescue. Mixed into LibvirtDriver;
every call runs on the compute service's thread that owns the driver."""
from __future__ import annotations

from pathlib import Path

import libvirt

from . import states as S
from .transport import copy_disk


class ImageWork:
    def snapshot_disk(self, uuid: str, dest: Path, progress=None, was: int | None = None) -> str:
        """Nova's cold snapshot: a running or paused guest is managed-saved while its disk is
        copied, then restored as it was. Returns the copy's sha256. `was` (a power_state)
        tells a snapshot that runs again after a crash how to restore a guest it finds
        managed-saved by its first run."""
        dom = self._need(uuid)
        state = dom.state()[0]
        saved = state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_PAUSED)
        paused = state == libvirt.VIR_DOMAIN_PAUSED
        if saved:
            self._call("managedSave", uuid, dom.managedSave, 0)
        elif was in (S.RUNNING, S.PAUSED_POWER) and dom.hasManagedSaveImage(0):
            saved, paused = True, was == S.PAUSED_POWER
        try:
            return self._export_disk(uuid, dest, progress)
        finally:
            if saved:
                self._restore(dom, uuid, paused=paused)
            self._changed(uuid)

    def _export_disk(self, uuid: str, dest: Path, progress=None) -> str:
        """The disk flattened into a standalone qcow2 image (qemu-img convert on the host)."""
        flat = self.files.instance_dir(uuid) / "snapshot.qcow2"
        self.files.run("qemu-img", "convert", "-O", "qcow2", str(self.disk_path(uuid)), str(flat))
        try:
            return copy_disk(self.files, flat, self.image_files, dest, progress)
        finally:
            self.files.remove(flat)

    def _restore(self, dom, uuid: str, paused: bool) -> None:
        """Start from the managed save, paused if it was (drivers without START_PAUSED,
        such as the test driver, start it and pause it at once)."""
        if paused:
            try:
                dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
                return
            except libvirt.libvirtError:
                pass
        self._call("create", uuid, dom.createWithFlags, 0)
        if paused:
            self._call("suspend", uuid, dom.suspend)

    def replace_disk(self, uuid: str, image: dict) -> None:
        """Rebuild: the image's content becomes the disk (made beside it, then swapped in)."""
        self.create_disk(uuid, image, "disk.new")
        self.files.rename(self.files.instance_dir(uuid) / "disk.new", self.disk_path(uuid))

    def rescue(self, inst: dict, image: dict) -> None:
        """Boot the rescue image with the original disk second; the original disk is not
        touched. The guest's own definition is kept as unrescue.xml."""
        uuid = inst["uuid"]
        folder = self.files.instance_dir(uuid)
        if not self.files.exists(folder / "unrescue.xml"):  # else: a rescue that runs again
            self.files.write_text(folder / "unrescue.xml", self.xml(uuid, inactive=True))
        rescue_disk = self.create_disk(uuid, image, "disk.rescue")
        self.power_off(uuid, 0)
        dom = self.define(inst, image["disk_format"], rescue_disk=rescue_disk)
        self._call("create", uuid, dom.createWithFlags, 0)
        self._changed(uuid)

    def unrescue(self, uuid: str) -> None:
        folder = self.files.instance_dir(uuid)
        if self.files.exists(folder / "unrescue.xml"):  # else: defined back by a first run
            xml = self.files.read_text(folder / "unrescue.xml")
            self.power_off(uuid, 0)
            self.define_xml(uuid, xml)
        self.power_on(uuid)
        self.files.remove(folder / "disk.rescue")
        self.files.remove(folder / "unrescue.xml")
