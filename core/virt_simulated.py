"""The simulated host: a libvirt test-driver node kept in the state dir."""
from __future__ import annotations

import errno
import os
import re
import secrets
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

from .config import HostConfig
from .transport import copy_disk
from .virt import LibvirtDriver, driver_uri
from .virt_xml import TEST_NS

# The node file's first line: which write of it this is. The journal's lines name the write
# they follow, so that lines older than the file are never applied to it.
NODE_MARK = "<!-- novatui node {} -->"
_NODE_MARK = re.compile(r"<!-- novatui node ([0-9a-f]{16}) -->")
_JOURNAL_LINE = re.compile(r"([0-9a-f]{16}) (\S+) ([0-9]{1,2}) ([01])\n")   # mark uuid state saved
JOURNAL_LIMIT = 1 << 20   # bytes: past them, a change writes the node file (and empties this)


class SimulatedDriver(LibvirtDriver):
    """A libvirt test-driver node (`test:///<state>/hosts/<name>/node.xml`).

    Each connection to a node file gets a private copy of its state, so the node is written
    back after every change: the next start restores every guest with its run state. A
    change of run state alone (pause, stop, start…) is a line appended to the node's journal
    rather than the whole file written again (the open, write and rename of a 50-guest file
    were a seventh of the service's CPU in a burst); the next connection folds the journal
    into the file before libvirt reads it. Disks are plain copies of the image (no qemu-img
    needed).
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
        self.journal_file = self.host_dir / "node.journal"
        self._journal: int | None = None   # its descriptor, appending
        self._journaled = 0                # bytes appended since it was last emptied
        self._mark = ""                    # the node file's, as last written
        self._xml_cache: dict[str, str] = {}
        self._save_lock = threading.Lock()
        # Each guest's run state and managed save as the node file and its journal have them
        # (None: write the file anew), and the guests looked at or changed since: a change
        # asks libvirt again only about the guests touched, not about all of them.
        self._states: dict[str, tuple[int, bool]] | None = None
        self._touched: set[str] = set()

    @property
    def uri(self) -> str:
        return driver_uri(self.host, self.state_dir)

    def connect(self, on_event=None) -> None:
        self.host_dir.mkdir(parents=True, exist_ok=True)
        if not self.node_file.exists():
            self._write_node([])
        self._close_journal()   # a connection again, after its host was unreachable
        self._fold_journal()
        self._journal = os.open(self.journal_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._states = None
        super().connect(on_event)

    def close(self) -> None:
        super().close()
        self._close_journal()
        self._states = None

    def _close_journal(self) -> None:
        if self._journal is not None:
            os.close(self._journal)
            self._journal = None

    def _touch(self, uuid: str, redefined: bool = False) -> None:
        with self._save_lock:
            self._touched.add(uuid)
            if redefined:  # a new definition, or a new guest: the file is written anew
                self._xml_cache.pop(uuid, None)
                self._states = None

    def _changed(self, uuid: str, redefined: bool = False) -> None:
        """Written before the step records its outcome: the guests touched since the last
        write are read again, their new run states journaled (the whole file is written
        when the set of guests or a definition may have changed)."""
        if redefined:
            self._touch(uuid, redefined=True)
        with self._save_lock:
            self._touched.add(uuid)
            self._persist()

    def save(self) -> None:
        """Write every guest's definition and run state back to the node file."""
        with self._save_lock:
            self._states = None
            self._persist()

    def _persist(self) -> None:
        try:
            if self._states is None or not self._journal_touched():
                self._save_all()
        except BaseException:
            self._states = None   # unsure what the file and journal hold: the next change
            raise                 # writes the file, from what libvirt says

    def _save_all(self) -> None:
        entries, states = [], {}
        for dom in self.conn.listAllDomains(0):
            uuid = dom.UUIDString()
            states[uuid] = _state_of(dom)
            entries.append(self._entry(uuid, dom, states[uuid]))
        self._write_node(entries)
        self._touched.clear()
        self._states = states
        if self._journal is not None:  # its lines name the file before: emptied, or not
            os.ftruncate(self._journal, 0)
            self._journaled = 0

    def _journal_touched(self) -> bool:
        """Journal the touched guests' new run states; False when unsure that the others
        are all still there as written (a touched guest gone, or the count differs), or
        when the journal has grown past JOURNAL_LIMIT."""
        states, changed, lines = self._states, {}, []
        for uuid in self._touched:
            try:
                dom = self.conn.lookupByUUIDString(uuid)
            except libvirt.libvirtError:
                return False  # gone (or unreadable): the full write finds out which
            if uuid not in states:
                return False  # new: the full write puts it in
            state = _state_of(dom)
            if state != states[uuid]:
                changed[uuid] = state
                lines.append(f"{self._mark} {uuid} {state[0]} {int(state[1])}\n")
        if (self.conn.numOfDomains() + self.conn.numOfDefinedDomains() != len(states)
                or self._journaled > JOURNAL_LIMIT):
            return False
        if lines:  # one write: a kill leaves it whole or not there
            data = "".join(lines).encode()
            if os.write(self._journal, data) != len(data):   # a full disk
                raise OSError(errno.ENOSPC, f"{self.journal_file}: a write cut short")
            self._journaled += len(data)
        states.update(changed)   # only once written: a failure leaves them to the next write
        self._touched.clear()
        return True

    def _fold_journal(self) -> None:
        """The run states journaled after the node file's last write go into it (libvirt
        reads the file alone); a line of an older write of the file is not applied, nor a
        line cut short. A node file that cannot be read is left to libvirt to refuse."""
        try:
            journal = self.journal_file.read_bytes().decode(errors="replace")
        except FileNotFoundError:
            return
        try:
            text = self.node_file.read_bytes().decode()
        except UnicodeDecodeError:
            return
        mark = _NODE_MARK.match(text)
        states = {}
        for line in journal.splitlines(keepends=True) if mark is not None else ():
            found = _JOURNAL_LINE.fullmatch(line)
            if found is not None and found[1] == mark[1]:
                states[found[2]] = (int(found[3]), found[4] == "1")
        if states:
            try:
                node = ET.fromstring(text)
            except ET.ParseError:
                return  # a damaged file: libvirt's connection says so, the journal is kept
            self._write_node([_with_state(d, states) for d in node if d.tag == "domain"])
        self.journal_file.write_bytes(b"")

    def _entry(self, uuid: str, dom, state: tuple[int, bool]) -> str:
        """One guest in the node file: its definition and its run state."""
        xml = self._xml_cache.get(uuid)
        if xml is None:
            xml = self._xml_cache[uuid] = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        extra = f"<test:runstate>{state[0]}</test:runstate>"
        if state[1]:
            extra += "<test:hasmanagedsave/>"
        cut = xml.rindex("</domain>")
        return xml[:cut] + extra + xml[cut:]

    def _write_node(self, domains: list[str]) -> None:
        h = self.host
        head = (f"<node xmlns:test='{TEST_NS}'>\n<cpu><nodes>1</nodes><sockets>1</sockets>"
                f"<cores>{h.vcpus}</cores><threads>1</threads><active>{h.vcpus}</active>"
                f"<mhz>2400</mhz><model>x86_64</model></cpu>\n"
                f"<memory>{h.memory_mb * 1024}</memory>\n")
        self._mark = secrets.token_hex(8)
        tmp = self.node_file.with_suffix(".tmp")
        tmp.write_text(NODE_MARK.format(self._mark) + "\n" + head + "\n".join(domains)
                       + "\n</node>\n")
        os.replace(tmp, self.node_file)


def _state_of(dom) -> tuple[int, bool]:
    """A guest's run state and whether it has a managed save, as the node file keeps them."""
    return int(dom.state()[0]), bool(dom.hasManagedSaveImage(0))


def _with_state(domain: ET.Element, states: dict[str, tuple[int, bool]]) -> str:
    """A node file's guest, with its run state as journaled."""
    state = states.get(domain.findtext("uuid") or "")
    if state is not None:
        runstate = domain.find(f"{{{TEST_NS}}}runstate")
        if runstate is None:
            runstate = ET.SubElement(domain, f"{{{TEST_NS}}}runstate")
        runstate.text = str(state[0])
        saved = domain.find(f"{{{TEST_NS}}}hasmanagedsave")
        if saved is not None and not state[1]:
            domain.remove(saved)
        elif saved is None and state[1]:
            ET.SubElement(domain, f"{{{TEST_NS}}}hasmanagedsave")
    domain.tail = None   # the file's own newline between guests
    return ET.tostring(domain, encoding="unicode")
