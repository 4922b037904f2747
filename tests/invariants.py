"""The invariants every scenario must leave behind, read from the hypervisor and the files,
never from what the store believes about them.

`check(state_dir, config_path, expected_sha)` returns the violations (empty = fine); each is
a `Violation`: a str (the message) with a `kind` and the `uuid` it is about, so callers can
count them. `assert_ok(...)` raises with all of them. A simulated host's truth is its node file
(DIR/hosts/<host>/node.xml), opened with a test:// connection, and its files under
DIR/hosts/<host>/instances. A real host's is its libvirtd (the domains whose novatui placement
tag names it: two inventory hosts may share a daemon) and its instances_path, read through
novatui's own file transport (this machine, or SFTP and commands over SSH).

Kinds: placement, two-hosts (one guest defined on two hosts), disk (missing, or not the
content it had), task_state, usage, wedged-migration, stray-file, orphan-domain,
unfinished-action, image, mailbox, cli.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import libvirt

ROOT = Path(__file__).resolve().parent.parent
# Migrations that still hold resources or may still move the instance (core/store.py's list).
ACTIVE_MIGRATION = ("pre-migrating", "migrating", "post-migrating", "finished", "confirming",
                    "reverting", "accepted", "preparing", "running")
INSTANCE_FILES = {"disk", "domain.xml"}
RESCUE_FILES = {"disk.rescue", "unrescue.xml"}
CLI_TIMEOUT = 60

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors arrive as exceptions


class Violation(str):
    """One broken invariant: the message, plus what kind it is and which instance."""
    kind: str
    uuid: str | None

    def __new__(cls, kind: str, text: str, uuid: str | None = None):
        self = super().__new__(cls, f"[{kind}] {text}")
        self.kind, self.uuid = kind, uuid
        return self


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def cli_env(**extra: str) -> dict:
    """The environment of a CLI process: ours without any crash hook, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOVATUI_CRASH_")}
    return {**env, **extra}


def cli(config_path, state_dir, *args: str, env: dict | None = None,
        timeout: float = CLI_TIMEOUT, read_only: bool = False) -> subprocess.CompletedProcess:
    """One `novatui` process, as an operator's shell would run it. A process that does not
    end within `timeout` is killed, after SIGUSR2 has made it print its threads' stacks; its
    returncode is then None, its stderr says so and ends with the stacks."""
    cmd = [sys.executable, "-m", "core.cli", "--config", str(config_path), "--state-dir",
           str(state_dir), *(["--read-only"] if read_only else []), *args]
    with subprocess.Popen(cmd, cwd=ROOT, env=env or cli_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGUSR2)
            time.sleep(1)
            p.kill()
            out, err = p.communicate()
            return subprocess.CompletedProcess(cmd, None, out, f"timed out after {timeout} s; "
                                               f"its stderr, with its stacks at the timeout:\n{err}")
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


# -- reading the state ---------------------------------------------------------------------
class InstancesDir:
    """One host's instances dir, listed two levels deep: {entry: names in it, or None when
    the entry is not a directory}."""

    def __init__(self, host: str, state_dir: Path, host_config=None):
        self.host, self.state_dir, self.config = host, state_dir, host_config
        if host_config is None:  # simulated
            self.root, self.files = state_dir / "hosts" / host / "instances", None
        else:
            from core.virt import host_files
            self.files = host_files(host_config, state_dir)
            self.root = self.files.root
        self._listing: dict[str, set[str] | None] | None = None

    def show(self, rel: str) -> str:
        """A path for a message: relative to the state dir, or host:path for a real host."""
        if self.files is None:
            return str((self.root / rel).relative_to(self.state_dir))
        return f"{self.host}:{self.root / rel}"

    def listing(self) -> dict[str, set[str] | None]:
        if self._listing is None:
            self._listing = self._list()
        return self._listing

    def _list(self) -> dict[str, set[str] | None]:
        if self.files is None:
            if not self.root.is_dir():
                return {}
            return {e.name: {p.name for p in e.iterdir()} if e.is_dir() else None
                    for e in self.root.iterdir()}
        if not self.files.exists(self.root):
            return {}
        out: dict[str, set[str] | None] = {}
        found = self.files.run("find", str(self.root), "-mindepth", "1", "-maxdepth", "2",
                               "-printf", "%y %P\n")
        for line in sorted(found.splitlines()):  # a directory comes before what it holds
            kind, _, rel = line.partition(" ")
            entry, _, name = rel.partition("/")
            if not name:
                out[entry] = set() if kind == "d" else None
            elif out.get(entry) is not None:
                out[entry].add(name)
        return out

    def is_file(self, entry: str, name: str) -> bool:
        if self.files is None:
            return (self.root / entry / name).is_file()
        return name in (self.listing().get(entry) or set())

    def sha256(self, entry: str, name: str) -> str:
        if self.files is None:
            return sha256(self.root / entry / name)
        return self.files.sha256(self.root / entry / name)

    def close(self) -> None:
        if self.files is not None:
            self.files.close()


@dataclass
class State:
    dir: Path
    hosts: list[str]
    instances: dict[str, dict]             # every row, deleted ones too
    migrations: list[dict]
    open_actions: list[dict]
    images: dict[str, dict]
    messages: list[dict]
    domains: dict[str, set[str]] = field(default_factory=dict)  # host -> uuids libvirt defines
    files: dict[str, InstancesDir] = field(default_factory=dict)  # host -> its instances dir

    @property
    def live(self) -> dict[str, dict]:
        return {u: i for u, i in self.instances.items() if i["deleted_at"] is None}

    def placed_on(self, inst: dict) -> str | None:
        """The one host a live instance must be defined on (None: on none)."""
        if inst["vm_state"] == "shelved_offloaded":
            return None
        return inst["host"]

    def finished_migration(self, uuid: str) -> dict | None:
        return next((m for m in reversed(self.migrations)
                     if m["instance_uuid"] == uuid and m["status"] == "finished"), None)

    def resize_source(self, inst: dict) -> str | None:
        """VERIFY_RESIZE keeps the source's copy (<uuid>_resize) until confirm or revert."""
        if inst["vm_state"] != "resized":
            return None
        mig = self.finished_migration(inst["uuid"])
        return mig["source_host"] if mig else None

    def label(self, uuid: str) -> str:
        inst = self.instances.get(uuid)
        return f"{inst['name']} ({uuid[:8]})" if inst else uuid


def config_hosts(config_path) -> dict:
    """host name -> None for a simulated host, its HostConfig for a real one."""
    with open(config_path, "rb") as f:
        hosts = tomllib.load(f)["hosts"]
    if all(h["uri"].startswith("test:") for h in hosts):
        return {h["name"]: None for h in hosts}
    from core.config import load_config
    return {h.name: None if h.simulated else h for h in load_config(Path(config_path)).hosts}


def libvirt_domains(node_file: Path) -> set[str]:
    """The uuids of the domains a host's node file defines."""
    if not node_file.exists():
        return set()
    conn = libvirt.open(f"test://{node_file}")
    try:
        return {d.UUIDString() for d in conn.listAllDomains(0)}
    finally:
        conn.close()


def real_domains(host: str, host_config) -> set[str]:
    """The uuids of the domains a real host's libvirtd defines with novatui's placement tag
    naming that host."""
    import xml.etree.ElementTree as ET

    from core.virt import connect_uri
    from core.virt_xml import PLACEMENT_NS
    conn = libvirt.open(connect_uri(host_config))
    try:
        out = set()
        for dom in conn.listAllDomains(0):
            try:
                tag = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, PLACEMENT_NS)
            except libvirt.libvirtError:
                continue  # not a novatui guest
            if ET.fromstring(tag).get("host") == host:
                out.add(dom.UUIDString())
        return out
    finally:
        conn.close()


def open_store(state_dir: Path, config_path):
    """(connection, rows(sql) -> list of dicts): the state dir's SQLite file, or the
    inventory's [database] connection (PostgreSQL), read-only."""
    with open(config_path, "rb") as f:
        url = tomllib.load(f).get("database", {}).get("connection")
    if url is None:
        db = sqlite3.connect(f"file:{state_dir / 'novatui.db'}?mode=ro", uri=True, timeout=30)
        db.row_factory = sqlite3.Row
        return db, lambda sql: [dict(r) for r in db.execute(sql)]
    import psycopg
    from psycopg.rows import dict_row
    db = psycopg.connect(url, row_factory=dict_row)
    db.read_only = True
    return db, lambda sql: list(db.execute(sql))


def read_state(state_dir, config_path) -> State:
    state_dir = Path(state_dir)
    db, rows = open_store(state_dir, config_path)
    try:
        instances = {r["uuid"]: {**r, "sys_meta": json.loads(r["sys_meta"] or "{}")}
                     for r in rows("SELECT * FROM instances")}
        hosts = config_hosts(config_path)
        state = State(state_dir, list(hosts), instances,
                      rows("SELECT * FROM migrations ORDER BY id"),
                      rows("SELECT * FROM instance_actions WHERE finish_time IS NULL"),
                      {r["id"]: r for r in rows("SELECT * FROM images")},
                      [{**r, "payload": json.loads(r["payload"])} for r in rows("SELECT * FROM messages")])
    finally:
        db.close()
    state.domains = {h: libvirt_domains(state_dir / "hosts" / h / "node.xml") if c is None
                     else real_domains(h, c) for h, c in hosts.items()}
    state.files = {h: InstancesDir(h, state_dir, c) for h, c in hosts.items()}
    return state


# -- the invariants --------------------------------------------------------------------------
def check_placement(s: State, expected_sha) -> list[Violation]:
    """(1) each live instance is defined on exactly its host, or on none when it has none;
    (2) its disk is there with the content it had; a shelved-offloaded one's image holds it."""
    out = []
    for uuid, inst in s.live.items():
        name, host = s.label(uuid), s.placed_on(inst)
        where = sorted(h for h, uuids in s.domains.items() if uuid in uuids)
        want = expected_sha.get(uuid)
        if len(where) > 1:
            out.append(Violation("two-hosts", f"{name} is defined on {', '.join(where)} "
                                 f"(store: {inst['host']}, {inst['vm_state']})", uuid))
        elif where != ([host] if host else []):
            out.append(Violation("placement", f"{name} ({inst['vm_state']}) is defined on "
                                 f"{where or 'no host'}, the store places it on {host}", uuid))
        if inst["vm_state"] == "shelved_offloaded":
            if inst["host"] is not None:
                out.append(Violation("placement", f"{name} is shelved_offloaded but has host "
                                     f"{inst['host']}", uuid))
            out += _check_shelve_image(s, inst, want)
        elif host is not None:
            out += _check_disk(s, uuid, s.files[host], uuid, want)
            source = s.resize_source(inst)
            if source is not None:
                out += _check_disk(s, uuid, s.files[source], f"{uuid}_resize", want,
                                   "the source copy of ")
    return out


def _check_disk(s: State, uuid: str, folder: InstancesDir, entry: str, want: set | None,
                what: str = "") -> list:
    rel = folder.show(f"{entry}/disk")
    if not folder.is_file(entry, "disk"):
        return [Violation("disk", f"{what}{s.label(uuid)}'s disk is missing: {rel}", uuid)]
    got = folder.sha256(entry, "disk") if want else None
    if want and got not in want:
        return [Violation("disk", f"{what}{s.label(uuid)}'s disk {rel} is not the content it "
                          f"had (sha256 {got[:12]}…)", uuid)]
    return []


def _check_shelve_image(s: State, inst: dict, want: set | None) -> list[Violation]:
    uuid, image_id = inst["uuid"], inst["sys_meta"].get("shelved_image_id")
    image = s.images.get(image_id or "")
    if image is None or image["status"] != "active":
        state = image and image["status"]
        return [Violation("disk", f"{s.label(uuid)} is shelved_offloaded but its shelve image "
                          f"{image_id} is {state or 'gone'}", uuid)]
    path = Path(image["path"])
    if not path.is_file() or sha256(path) != image["checksum"]:
        return [Violation("disk", f"{s.label(uuid)}'s shelve image file {path.name} is "
                          f"{'not its checksum' if path.is_file() else 'missing'}", uuid)]
    if want and image["checksum"] not in want:
        return [Violation("disk", f"{s.label(uuid)}'s shelve image is not the disk it had", uuid)]
    return []


def check_tasks(s: State) -> list[Violation]:
    """(3) no task_state left after recovery; (7) no unfinished action; nothing queued."""
    out = [Violation("task_state", f"{s.label(u)} is stuck in task_state {i['task_state']} "
                     f"(vm_state {i['vm_state']}, host {i['host']})", u)
           for u, i in s.live.items() if i["task_state"] is not None]
    out += [Violation("unfinished-action", f"action {a['action']} ({a['request_id']}) of "
                      f"{s.label(a['instance_uuid'])} never finished", a["instance_uuid"])
            for a in s.open_actions]
    out += [Violation("mailbox", f"step {m['payload']['method']} for "
                      f"{s.label(m['payload']['args'].get('uuid', '?'))} is still queued on "
                      f"{m['topic']}" + (" (claimed)" if m["claimed_by"] else ""),
                      m["payload"]["args"].get("uuid"))
            for m in s.messages]
    return out


def check_migrations(s: State) -> list[Violation]:
    """(4) an open migration belongs to an instance waiting in VERIFY_RESIZE, and the other
    way round."""
    out = []
    for m in s.migrations:
        if m["status"] not in ACTIVE_MIGRATION:
            continue
        inst = s.instances.get(m["instance_uuid"]) or {}
        if inst.get("deleted_at") is not None or inst.get("vm_state") != "resized" \
                or inst.get("task_state") is not None:
            out.append(Violation(
                "wedged-migration", f"migration {m['id']} of {s.label(m['instance_uuid'])} "
                f"({m['source_host']} -> {m['dest_host']}) is {m['status']} while the instance "
                f"is {'deleted' if inst.get('deleted_at') else inst.get('vm_state')}"
                f"/{inst.get('task_state')}", m["instance_uuid"]))
    for uuid, inst in s.live.items():
        if inst["vm_state"] == "resized" and s.finished_migration(uuid) is None:
            out.append(Violation("wedged-migration", f"{s.label(uuid)} is in VERIFY_RESIZE with "
                                 "no finished migration to confirm or revert", uuid))
    return out


def expected_usage(s: State) -> dict[str, tuple[int, int, int]]:
    used = {h: [0, 0, 0] for h in s.hosts}
    for inst in s.live.values():
        if inst["host"] in used:
            for i, k in enumerate(("vcpus", "memory_mb", "root_gb")):
                used[inst["host"]][i] += inst[k]
    for m in s.migrations:
        if m["held_host"] in used and m["status"] in ACTIVE_MIGRATION:
            for i, k in enumerate(("held_vcpus", "held_memory_mb", "held_root_gb")):
                used[m["held_host"]][i] += m[k]
    return {h: tuple(v) for h, v in used.items()}


def usage_violations(expected: dict[str, tuple], reported: list[dict]) -> list[Violation]:
    """(4) what `host list` reports against the instances' flavors plus open claims."""
    out = []
    got = {h["name"]: (h["vcpus_used"], h["memory_mb_used"], h["disk_gb_used"]) for h in reported}
    for host, want in expected.items():
        if got.get(host) != want:
            out.append(Violation("usage", f"{host} reports vcpus/memory_mb/disk_gb used "
                                 f"{got.get(host)}, its instances and claims add up to {want}"))
    return out


def check_files(s: State) -> list[Violation]:
    """(5) no partial copy or temporary file anywhere; only the directories of instances
    placed on a host (and a VERIFY_RESIZE source copy) in its instances dir."""
    out = []
    for path in sorted(s.dir.rglob("*")):
        if ".part" in path.name or path.name.endswith(".tmp"):
            out.append(Violation("stray-file", f"leftover {path.relative_to(s.dir)}"))
    allowed: dict[str, dict[str, set]] = {h: {"_base": set()} for h in s.hosts}
    for uuid, inst in s.live.items():
        host = s.placed_on(inst)
        if host in allowed:
            extra = RESCUE_FILES if inst["vm_state"] == "rescued" else set()
            allowed[host][uuid] = INSTANCE_FILES | extra
        source = s.resize_source(inst)
        if source in allowed:
            allowed[source][f"{uuid}_resize"] = INSTANCE_FILES
    for host in s.hosts:
        folder = s.files[host]
        for entry, names in sorted(folder.listing().items()):
            uuid = entry.removesuffix("_resize")
            files = allowed[host].get(entry)
            if folder.files is not None:  # a real host's files are not under the state dir
                out += [Violation("stray-file", f"leftover {folder.show(f'{entry}/{name}')}")
                        for name in sorted({entry} | (names or set()))
                        if ".part" in name or name.endswith(".tmp")]
            if files is None:
                inst = s.instances.get(uuid)
                whose = ("of unknown instance" if inst is None else "of deleted instance"
                         if inst["deleted_at"] else f"of {inst['vm_state']} instance placed on "
                         f"{s.placed_on(inst)}")
                out.append(Violation("stray-file", f"{folder.show(entry)} ({whose})",
                                     uuid if inst else None))
            elif entry != "_base":
                stray = sorted(n for n in names if n not in files and ".part" not in n) \
                    if names is not None else ["(not a dir)"]
                if stray:
                    out.append(Violation("stray-file", f"{folder.show(entry)} holds "
                                         f"{', '.join(stray)}", uuid))
    return out


def check_domains(s: State) -> list[Violation]:
    """(6) every domain belongs to a live instance placed on that host (the live ones
    defined elsewhere or twice are check_placement's)."""
    out = []
    for host, uuids in s.domains.items():
        for uuid in sorted(uuids):
            inst = s.live.get(uuid)
            if inst is None:
                what = "a deleted instance" if uuid in s.instances else "no instance"
                out.append(Violation("orphan-domain", f"{host} defines {s.label(uuid)}, which "
                                     f"is {what}", uuid))
    return out


def check_images(s: State) -> list[Violation]:
    """No image left half made (queued by a snapshot or shelve that never finished), no
    image file without its record, no shelve image outliving its deleted instance."""
    out = []
    for image in s.images.values():
        path = Path(image["path"])
        if image["status"] != "active":
            out.append(Violation("image", f"image {image['name']} ({image['id'][:8]}) is left "
                                 f"{image['status']}", image["instance_uuid"]))
        elif not path.is_file() or sha256(path) != image["checksum"]:
            out.append(Violation("image", f"image {image['name']}'s file {path.name} is "
                                 f"{'corrupt' if path.is_file() else 'missing'}"))
    known = {Path(i["path"]).name for i in s.images.values()}
    for path in sorted((s.dir / "images").glob("*")):
        if path.name not in known and ".part" not in path.name:
            out.append(Violation("image", f"images/{path.name} belongs to no image"))
    for uuid, inst in s.instances.items():
        image_id = inst["sys_meta"].get("shelved_image_id")
        if inst["deleted_at"] is not None and image_id in s.images:
            out.append(Violation("image", f"deleted {s.label(uuid)} left its shelve image "
                                 f"{image_id[:8]}", uuid))
    return out


def check(state_dir, config_path, expected_sha: dict[str, set[str]] | None = None) -> list[Violation]:
    """Every violation of the invariants in `state_dir` (driven with `config_path`). The
    state is read first; `host list` (read-only: it recovers nothing) is asked after."""
    expected_sha = expected_sha or {}
    s = read_state(state_dir, config_path)
    try:
        out = (check_placement(s, expected_sha) + check_tasks(s) + check_migrations(s)
               + check_files(s) + check_domains(s) + check_images(s))
    finally:
        for folder in s.files.values():
            folder.close()
    p = cli(config_path, state_dir, "host", "list", "-f", "json", read_only=True)
    if p.returncode != 0:
        return out + [Violation("cli", f"host list failed ({p.returncode}): {p.stderr.strip()}")]
    return out + usage_violations(expected_usage(s), json.loads(p.stdout))


def assert_ok(state_dir, config_path, expected_sha: dict[str, set[str]] | None = None) -> None:
    problems = check(state_dir, config_path, expected_sha)
    assert not problems, f"{len(problems)} invariant(s) broken:\n" + "\n".join(problems)
