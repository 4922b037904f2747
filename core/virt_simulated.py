"""The simulated host: a libvirt test-driver node kept in the state dir."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import libvirt

from .config import HostConfig
from .transport import copy_disk
from .virt import LibvirtDriver, driver_uri
from .virt_xml import TEST_NS


class SimulatedDriver(LibvirtDriver):
    """A libvirt test-driver node (`test:///<state>/hosts/<name>/node.xml`).

    Each connection to a node file gets a private copy of its state, so the node is written
    back after every change: the next start restores every guest with its run state. Disks
    are plain copies of the image (no qemu-img needed).
    """

    domain_type = "test"
    disk_format = None

    def create_disk(self, uuid: str, image: dict, name: str = "disk", progress=None):
        dest = self.files.instance_dir(uuid) / name
        copy_disk(self.image_files, Path(image["path"]), self.files, dest, progress,
                  image.get("checksum") or None)
        return dest

    def prepare_disk_for(self, uuid: str, image: dict | None) -> None:
        pass

    def _export_disk(self, uuid: str, dest: Path, progress=None) -> str:
        return copy_disk(self.files, self.disk_path(uuid), self.image_files, dest, progress)

    def _placed_here(self, dom) -> bool:
        return True  # a node file is one host

    def __init__(self, host: HostConfig, state_dir: Path):
        super().__init__(host, state_dir)
        self.host_dir = state_dir / "hosts" / host.name
        self.node_file = self.host_dir / "node.xml"
        self._xml_cache: dict[str, str] = {}
        self._save_lock = threading.Lock()
        # The node file's entries as last written, by uuid (None: rebuild them all), and the
        # guests looked at or changed since: a change rewrites the file from these, asking
        # libvirt again only about the guests touched, not about all of them.
        self._entries: dict[str, str] | None = None
        self._touched: set[str] = set()

    @property
    def uri(self) -> str:
        return driver_uri(self.host, self.state_dir)

    def connect(self, on_event=None) -> None:
        self.host_dir.mkdir(parents=True, exist_ok=True)
        if not self.node_file.exists():
            self._write_node([])
        self._entries = None
        super().connect(on_event)

    def _touch(self, uuid: str, redefined: bool = False) -> None:
        with self._save_lock:
            self._touched.add(uuid)
            if redefined:  # a new definition, or a new guest: every entry is read again
                self._xml_cache.pop(uuid, None)
                self._entries = None

    def _changed(self, uuid: str, redefined: bool = False) -> None:
        """Written before the step records its outcome: the guests touched since the last
        write are read again (all of them when the set of guests may have changed)."""
        if redefined:
            self._touch(uuid, redefined=True)
        with self._save_lock:
            self._touched.add(uuid)
            if self._entries is None or not self._refresh_touched():
                self._save_all()
            else:
                self._write_node(list(self._entries.values()))

    def save(self) -> None:
        """Write every guest's definition and run state back to the node file."""
        with self._save_lock:
            self._save_all()

    def _save_all(self) -> None:
        entries = {}
        for dom in self.conn.listAllDomains(0):
            uuid = dom.UUIDString()
            entries[uuid] = self._entry(uuid, dom)
        self._entries = entries
        self._touched.clear()
        self._write_node(list(entries.values()))

    def _refresh_touched(self) -> bool:
        """Render again the touched guests' entries; False when unsure that the others are
        all still there as written (a touched guest gone, or the count differs)."""
        entries = self._entries
        for uuid in self._touched:
            try:
                dom = self.conn.lookupByUUIDString(uuid)
            except libvirt.libvirtError:
                return False  # gone (or unreadable): the full rebuild finds out which
            if uuid not in entries:
                return False  # new: the full rebuild puts it in
            entries[uuid] = self._entry(uuid, dom)
        self._touched.clear()
        return self.conn.numOfDomains() + self.conn.numOfDefinedDomains() == len(entries)

    def _entry(self, uuid: str, dom) -> str:
        """One guest in the node file: its definition and its run state."""
        xml = self._xml_cache.get(uuid)
        if xml is None:
            xml = self._xml_cache[uuid] = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        extra = f"<test:runstate>{int(dom.state()[0])}</test:runstate>"
        if dom.hasManagedSaveImage(0):
            extra += "<test:hasmanagedsave/>"
        cut = xml.rindex("</domain>")
        return xml[:cut] + extra + xml[cut:]

    def _write_node(self, domains: list[str]) -> None:
        h = self.host
        head = (f"<node xmlns:test='{TEST_NS}'>\n<cpu><nodes>1</nodes><sockets>1</sockets>"
                f"<cores>{h.vcpus}</cores><threads>1</threads><active>{h.vcpus}</active>"
                f"<mhz>2400</mhz><model>x86_64</model></cpu>\n"
                f"<memory>{h.memory_mb * 1024}</memory>\n")
        tmp = self.node_file.with_suffix(".tmp")
        tmp.write_text(head + "\n".join(domains) + "\n</node>\n")
        os.replace(tmp, self.node_file)
