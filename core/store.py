"""The SQLite store: instances, instance actions and events, faults, images, IP allocations,
the message bus's mailbox and the compute services' heartbeats.

Every thread gets its own connection (WAL lets readers run beside the writer). State changes
that must not race are single UPDATE statements guarded on the expected state, so two
processes sharing one store cannot both start conflicting actions.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import Conflict, NovaError, UnexpectedTaskState
from .store_mailbox import Mailbox
from .store_migrations import ACTIVE_MIGRATION, Migrations


class StoreError(NovaError):
    """The state store cannot be opened or used: the message says which file and what to do."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    uuid TEXT PRIMARY KEY, name TEXT NOT NULL, flavor TEXT NOT NULL,
    vcpus INTEGER NOT NULL, memory_mb INTEGER NOT NULL, root_gb INTEGER NOT NULL,
    image TEXT, image_id TEXT, vm_state TEXT NOT NULL, task_state TEXT,
    power_state INTEGER NOT NULL DEFAULT 0, host TEXT, availability_zone TEXT,
    ip TEXT, locked INTEGER NOT NULL DEFAULT 0, locked_reason TEXT,
    created_at REAL NOT NULL, launched_at REAL, updated_at REAL, deleted_at REAL,
    sys_meta TEXT NOT NULL DEFAULT '{}', progress INTEGER);
CREATE INDEX IF NOT EXISTS instances_host ON instances(host) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS instances_name ON instances(name);
CREATE INDEX IF NOT EXISTS instances_updated ON instances(updated_at);
CREATE TABLE IF NOT EXISTS instance_actions (
    id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, instance_uuid TEXT NOT NULL,
    action TEXT NOT NULL, user_id TEXT, project_id TEXT, start_time REAL NOT NULL,
    finish_time REAL, message TEXT);
CREATE INDEX IF NOT EXISTS actions_instance ON instance_actions(instance_uuid);
CREATE TABLE IF NOT EXISTS instance_action_events (
    id INTEGER PRIMARY KEY, action_id INTEGER NOT NULL, event TEXT NOT NULL, host TEXT,
    start_time REAL NOT NULL, finish_time REAL, result TEXT, details TEXT);
CREATE INDEX IF NOT EXISTS events_action ON instance_action_events(action_id);
CREATE TABLE IF NOT EXISTS instance_faults (
    id INTEGER PRIMARY KEY, instance_uuid TEXT NOT NULL, code INTEGER NOT NULL,
    message TEXT NOT NULL, details TEXT, host TEXT, request_id TEXT, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS faults_instance ON instance_faults(instance_uuid);
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, disk_format TEXT NOT NULL, size INTEGER NOT NULL,
    checksum TEXT NOT NULL, type TEXT NOT NULL DEFAULT 'image', instance_uuid TEXT,
    path TEXT NOT NULL, properties TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL DEFAULT 'active',
    created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ip_allocations (
    network TEXT NOT NULL, address TEXT NOT NULL, instance_uuid TEXT NOT NULL,
    allocated_at REAL NOT NULL, PRIMARY KEY (network, address));
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload TEXT NOT NULL,
    created_at REAL NOT NULL, claimed_by TEXT);
CREATE INDEX IF NOT EXISTS messages_topic ON messages(topic, claimed_by);
CREATE TABLE IF NOT EXISTS migrations (
    id INTEGER PRIMARY KEY, instance_uuid TEXT NOT NULL, migration_type TEXT NOT NULL,
    source_host TEXT, dest_host TEXT, old_flavor TEXT, new_flavor TEXT, status TEXT NOT NULL,
    held_host TEXT, held_vcpus INTEGER NOT NULL DEFAULT 0, held_memory_mb INTEGER NOT NULL DEFAULT 0,
    held_root_gb INTEGER NOT NULL DEFAULT 0, request_id TEXT, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, disk_size INTEGER, disk_sha256 TEXT);
CREATE INDEX IF NOT EXISTS migrations_instance ON migrations(instance_uuid);
CREATE TABLE IF NOT EXISTS services (
    host TEXT PRIMARY KEY, pid INTEGER, heartbeat REAL, disabled INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT, forced_down INTEGER NOT NULL DEFAULT 0, uri TEXT,
    vcpus INTEGER, memory_mb INTEGER, disk_gb INTEGER, last_error TEXT);
"""

_UNSET = object()
# Each thread's connection keeps its own page cache, and any other connection's write
# empties it: 2 MiB each (SQLite's default) bought nothing but memory, 25 threads over.
PAGE_CACHE_KIB = 256
INSTANCE_COLUMNS = ("uuid", "name", "flavor", "vcpus", "memory_mb", "root_gb", "image",
                    "image_id", "vm_state", "task_state", "power_state", "host",
                    "availability_zone", "ip", "locked", "locked_reason", "created_at",
                    "launched_at", "updated_at", "deleted_at", "sys_meta", "progress")


def _instance(row: sqlite3.Row | None) -> dict | None:
    if row is None:
        return None
    d = dict(row)
    d["sys_meta"] = json.loads(d["sys_meta"] or "{}")
    d["locked"] = bool(d["locked"])
    return d


class Store(Mailbox, Migrations):
    """read_only: opened with SQLite's mode=ro, so a read-only process cannot write the
    store whatever its code does. on_fresh is called when the file holds no schema yet (a
    new, empty or zero-byte file), before the schema is made, and may refuse."""

    def __init__(self, path: str | Path, read_only: bool = False, on_fresh=None):
        self.path = Path(path)
        self.read_only = read_only
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []  # every thread's, closed together by close()
        self._conns_lock = threading.Lock()
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if not read_only and on_fresh is not None and (
                not self.path.exists() or self.path.stat().st_size == 0):
            on_fresh()  # before SQLite writes a header into an empty file
        try:
            if read_only and not self.path.is_file():
                raise StoreError(f"state store {self.path} does not exist; a read-only process "
                                 "cannot create it")
            tables = {r[0] for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
            if "instances" not in tables and on_fresh is not None:
                on_fresh()  # may refuse an empty store (a lost database) before it is made
            if not read_only:
                self.conn.executescript(SCHEMA)
                _add_missing_columns(self.conn)
        except sqlite3.DatabaseError as e:
            raise StoreError(describe_db_error(self.path, e)) from None

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.read_only:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10,
                                       isolation_level=None, check_same_thread=False)
            else:
                conn = sqlite3.connect(self.path, timeout=10, isolation_level=None,
                                       check_same_thread=False)
            conn.row_factory = sqlite3.Row
            if not self.read_only:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection (the threads that used them have ended)."""
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    @contextmanager
    def tx(self):
        """One write transaction, taken at once (BEGIN IMMEDIATE) so it cannot deadlock.
        Inside another one, it is part of that one (one commit for a step's writes)."""
        c = self.conn
        if c.in_transaction:
            yield c
            return
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    # -- instances ---------------------------------------------------------------------
    def create_instance(self, fields: dict) -> dict:
        fields = dict(fields)
        fields["sys_meta"] = json.dumps(fields.get("sys_meta", {}))
        fields.setdefault("updated_at", fields["created_at"])
        cols = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        self.conn.execute(f"INSERT INTO instances ({cols}) VALUES ({marks})", tuple(fields.values()))
        return self.get_instance(fields["uuid"])

    def get_instance(self, uuid: str) -> dict | None:
        return _instance(self.conn.execute("SELECT * FROM instances WHERE uuid=?", (uuid,)).fetchone())

    def find_instances(self, ref: str) -> list[dict]:
        """Live instances whose uuid is `ref`, or whose name is `ref`."""
        rows = self.conn.execute(
            "SELECT * FROM instances WHERE deleted_at IS NULL AND (uuid=? OR name=?)",
            (ref, ref)).fetchall()
        exact = [r for r in rows if r["uuid"] == ref]
        return [_instance(r) for r in (exact or rows)]

    def list_instances(self, host: str | None = None) -> list[dict]:
        if host is None:
            rows = self.conn.execute(
                "SELECT * FROM instances WHERE deleted_at IS NULL ORDER BY created_at, rowid")
        else:
            rows = self.conn.execute(
                "SELECT * FROM instances WHERE deleted_at IS NULL AND host=? ORDER BY created_at, rowid",
                (host,))
        return [_instance(r) for r in rows.fetchall()]

    def changed_since(self, when: float) -> list[dict]:
        """Instances written after `when` (deleted ones too): how a watcher sees what other
        processes sharing the store did."""
        rows = self.conn.execute("SELECT * FROM instances WHERE updated_at > ? ORDER BY updated_at",
                                 (when,))
        return [_instance(r) for r in rows.fetchall()]

    def update_instance(self, uuid: str, expected_task_state=_UNSET, **fields) -> dict:
        """Write fields; with expected_task_state (a value or a tuple of values), only if the
        instance's task_state is still that (Nova's save(expected_task_state=...))."""
        if "sys_meta" in fields:
            fields["sys_meta"] = json.dumps(fields["sys_meta"])
        fields["updated_at"] = time.time()
        sets = ", ".join(f"{k}=?" for k in fields)
        sql = f"UPDATE instances SET {sets} WHERE uuid=?"
        args = list(fields.values()) + [uuid]
        if expected_task_state is not _UNSET:
            clause, extra = _task_clause(expected_task_state)
            sql += " AND " + clause
            args += extra
        cur = self.conn.execute(sql + " RETURNING *", args)
        row = cur.fetchone()
        cur.close()
        if row is None:
            current = self.get_instance(uuid)
            actual = current["task_state"] if current else "deleted"
            raise UnexpectedTaskState(
                f"Unexpected task state: expecting {expected_task_state} but the actual "
                f"state is {actual}")
        return _instance(row)

    def begin_task(self, uuid: str, vm_states, task_states, require_unlocked: bool,
                   new_task_state, **fields) -> dict | None:
        """The API's compare-and-swap: set task_state only if vm_state, task_state and the
        lock still allow it. None when another request got there first."""
        fields["task_state"] = new_task_state
        fields["updated_at"] = time.time()
        sets = ", ".join(f"{k}=?" for k in fields)
        sql = f"UPDATE instances SET {sets} WHERE uuid=? AND deleted_at IS NULL"
        args = list(fields.values()) + [uuid]
        if vm_states is not None:
            sql += f" AND vm_state IN ({', '.join('?' for _ in vm_states)})"
            args += list(vm_states)
        if task_states is not None:
            clause, extra = _task_clause(tuple(task_states))
            sql += " AND " + clause
            args += extra
        if require_unlocked:
            sql += " AND locked=0"
        cur = self.conn.execute(sql + " RETURNING *", args)
        row = cur.fetchone()
        cur.close()
        return _instance(row)

    def set_locked(self, uuid: str, locked: bool) -> bool:
        """Lock or unlock, only if it is not so already (False when it was)."""
        cur = self.conn.execute(
            "UPDATE instances SET locked=?, locked_reason=?, updated_at=? WHERE uuid=? AND locked=? "
            "AND deleted_at IS NULL RETURNING uuid",
            (int(locked), "admin" if locked else None, time.time(), uuid, int(not locked)))
        ok = cur.fetchone() is not None
        cur.close()
        return ok

    def host_usage(self, host: str | None = None) -> dict[str, dict]:
        """vCPUs, RAM, disk and instances held on each host (or on one host): the instances
        placed there, plus what a migration in progress holds there (its claim on the
        destination, or the source kept until confirm)."""
        where = " AND host=?" if host else ""
        rows = self.conn.execute(
            "SELECT host, SUM(v) v, SUM(m) m, SUM(d) d, SUM(n) n FROM ("
            "SELECT host, vcpus v, memory_mb m, root_gb d, 1 n FROM instances "
            "WHERE deleted_at IS NULL AND host IS NOT NULL UNION ALL "
            "SELECT held_host, held_vcpus, held_memory_mb, held_root_gb, 0 FROM migrations "
            f"WHERE held_host IS NOT NULL AND status IN {ACTIVE_MIGRATION}) "
            f"WHERE 1{where} GROUP BY host", (host,) if host else ())
        return {r["host"]: {"vcpus": r["v"], "memory_mb": r["m"], "disk_gb": r["d"],
                            "instances": r["n"]} for r in rows}

    # -- instance actions, events, faults ----------------------------------------------
    def start_action(self, uuid: str, action: str, request_id: str, user: str = "admin") -> int:
        cur = self.conn.execute(
            "INSERT INTO instance_actions (request_id, instance_uuid, action, user_id, "
            "project_id, start_time) VALUES (?, ?, ?, ?, ?, ?)",
            (request_id, uuid, action, user, user, time.time()))
        return cur.lastrowid

    def finish_action(self, request_id: str, error: bool = False) -> None:
        self.conn.execute(
            "UPDATE instance_actions SET finish_time=?, message=CASE WHEN ? THEN 'Error' "
            "ELSE message END WHERE request_id=?", (time.time(), error, request_id))

    def open_request(self, uuid: str) -> str | None:
        """The request id of the instance's newest unfinished action."""
        row = self.conn.execute(
            "SELECT request_id FROM instance_actions WHERE instance_uuid=? AND finish_time IS "
            "NULL ORDER BY id DESC LIMIT 1", (uuid,)).fetchone()
        return row[0] if row else None

    def get_action(self, request_id: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM instance_actions WHERE request_id=?",
                                (request_id,)).fetchone()
        return dict(row) if row else None

    def start_event(self, request_id: str, event: str, host: str | None) -> int | None:
        cur = self.conn.execute(
            "INSERT INTO instance_action_events (action_id, event, host, start_time) "
            "SELECT id, ?, ?, ? FROM instance_actions WHERE request_id=?",
            (event, host, time.time(), request_id))
        return cur.lastrowid if cur.rowcount else None

    def finish_event(self, event_id: int | None, result: str, details: str | None = None) -> None:
        if event_id is not None:
            self.conn.execute(
                "UPDATE instance_action_events SET finish_time=?, result=?, details=? WHERE id=?",
                (time.time(), result, details, event_id))

    def list_actions(self, uuid: str) -> list[dict]:
        actions = [dict(r) for r in self.conn.execute(
            "SELECT * FROM instance_actions WHERE instance_uuid=? ORDER BY id", (uuid,))]
        for a in actions:
            a["events"] = [dict(r) for r in self.conn.execute(
                "SELECT event, host, start_time, finish_time, result, details FROM "
                "instance_action_events WHERE action_id=? ORDER BY id", (a["id"],))]
        return actions

    def add_fault(self, uuid: str, code: int, message: str, details: str | None,
                  host: str | None, request_id: str | None) -> None:
        self.conn.execute(
            "INSERT INTO instance_faults (instance_uuid, code, message, details, host, "
            "request_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (uuid, code, message, details, host, request_id, time.time()))

    def last_fault(self, uuid: str) -> dict | None:
        row = self.conn.execute(
            "SELECT * FROM instance_faults WHERE instance_uuid=? ORDER BY id DESC LIMIT 1",
            (uuid,)).fetchone()
        return dict(row) if row else None

    # -- images ------------------------------------------------------------------------
    def add_image(self, fields: dict) -> dict:
        fields = dict(fields, properties=json.dumps(fields.get("properties", {})))
        cols = ", ".join(fields)
        self.conn.execute(f"INSERT INTO images ({cols}) VALUES ({', '.join('?' for _ in fields)})",
                          tuple(fields.values()))
        return self.get_image(fields["id"])

    def get_image(self, image_id: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM images WHERE id=?", (image_id,)).fetchone()
        return _image(row)

    def find_images(self, ref: str) -> list[dict]:
        rows = self.conn.execute("SELECT * FROM images WHERE (id=? OR name=?) AND status!='deleting' "
                                 "ORDER BY created_at, rowid", (ref, ref)).fetchall()
        exact = [r for r in rows if r["id"] == ref]
        return [_image(r) for r in (exact or rows)]

    def update_image(self, image_id: str, **fields) -> None:
        if "properties" in fields:
            fields["properties"] = json.dumps(fields["properties"])
        sets = ", ".join(f"{k}=?" for k in fields)
        self.conn.execute(f"UPDATE images SET {sets} WHERE id=?", (*fields.values(), image_id))

    def delete_image(self, image_id: str) -> None:
        self.conn.execute("DELETE FROM images WHERE id=?", (image_id,))

    def list_images(self, status: str | None = None) -> list[dict]:
        """Every image but those being deleted; or those of one status."""
        where = "status=?" if status else "status!='deleting'"
        return [_image(r) for r in self.conn.execute(
            f"SELECT * FROM images WHERE {where} ORDER BY created_at, rowid", (status,) if status else ())]

    # -- IP allocations ----------------------------------------------------------------
    def allocate_ip(self, network: str, uuid: str, candidates) -> str:
        with self.tx() as c:
            taken = {r[0] for r in c.execute(
                "SELECT address FROM ip_allocations WHERE network=?", (network,))}
            for address in candidates:
                if address not in taken:
                    c.execute("INSERT INTO ip_allocations VALUES (?, ?, ?, ?)",
                              (network, address, uuid, time.time()))
                    return address
        raise Conflict(f"No more IP addresses available on network {network}")

    def release_ips(self, uuid: str) -> None:
        self.conn.execute("DELETE FROM ip_allocations WHERE instance_uuid=?", (uuid,))

    # -- compute services --------------------------------------------------------------
    def heartbeat(self, host: str, pid: int | None, when: float | None = None) -> None:
        self.conn.execute(
            "INSERT INTO services (host, pid, heartbeat) VALUES (?, ?, ?) ON CONFLICT(host) "
            "DO UPDATE SET pid=excluded.pid, heartbeat=excluded.heartbeat",
            (host, pid, time.time() if when is None else when))

    def services(self) -> dict[str, dict]:
        return {r["host"]: dict(r) for r in self.conn.execute("SELECT * FROM services")}

    def set_service(self, host: str, **fields) -> None:
        self.conn.execute("INSERT INTO services (host) VALUES (?) ON CONFLICT(host) DO NOTHING",
                          (host,))
        sets = ", ".join(f"{k}=?" for k in fields)
        self.conn.execute(f"UPDATE services SET {sets} WHERE host=?", (*fields.values(), host))


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Stores made by an earlier version lack the newer columns."""
    have = {r[1] for r in conn.execute("PRAGMA table_info(migrations)")}
    for column, kind in (("disk_size", "INTEGER"), ("disk_sha256", "TEXT")):
        if column not in have:
            conn.execute(f"ALTER TABLE migrations ADD COLUMN {column} {kind}")


def describe_db_error(path: Path, e: sqlite3.Error) -> str:
    """One line for a store that cannot be used, saying what to do about it."""
    reason = str(e)
    if "locked" in reason:
        hint = "another process holds it locked; try again when it is done"
    elif "malformed" in reason or "not a database" in reason:
        hint = ("it is damaged; restore it from a backup, or move the state dir aside to "
                "start afresh (the guests on the hosts are then unknown to novatui)")
    elif "unable to open" in reason or "readonly" in reason:
        hint = "check that the state dir exists and that this user can write it"
    else:
        hint = "check the disk that holds it (full? read-only?)"
    return f"state store {path}: {reason}; {hint}"


def _task_clause(expected) -> tuple[str, list]:
    values = expected if isinstance(expected, (tuple, list)) else (expected,)
    parts, args = [], []
    if None in values:
        parts.append("task_state IS NULL")
    named = [v for v in values if v is not None]
    if named:
        parts.append(f"task_state IN ({', '.join('?' for _ in named)})")
        args += named
    return "(" + " OR ".join(parts or ["0"]) + ")", args


def _image(row) -> dict | None:
    if row is None:
        return None
    d = dict(row)
    d["properties"] = json.loads(d["properties"] or "{}")
    return d
