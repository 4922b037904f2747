"""The store on SQLAlchemy: stores made before migrations existed are upgraded in place,
the migrations' head is the one the code expects, read-only processes never migrate, and
[database] connection is validated in one line."""
from __future__ import annotations

import sqlite3
import time

import pytest

from core.config import load_config
from core.errors import ConfigError
from core.migrations import HEAD
from core.store import Store
from core.store_db import StoreError
from tests.conftest import ROOT

# The schema as the SQLite-only store made it (before disk_size/disk_sha256 and alembic).
OLD_SCHEMA = """
CREATE TABLE instances (
    uuid TEXT PRIMARY KEY, name TEXT NOT NULL, flavor TEXT NOT NULL,
    vcpus INTEGER NOT NULL, memory_mb INTEGER NOT NULL, root_gb INTEGER NOT NULL,
    image TEXT, image_id TEXT, vm_state TEXT NOT NULL, task_state TEXT,
    power_state INTEGER NOT NULL DEFAULT 0, host TEXT, availability_zone TEXT,
    ip TEXT, locked INTEGER NOT NULL DEFAULT 0, locked_reason TEXT,
    created_at REAL NOT NULL, launched_at REAL, updated_at REAL, deleted_at REAL,
    sys_meta TEXT NOT NULL DEFAULT '{}', progress INTEGER);
CREATE TABLE instance_actions (
    id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, instance_uuid TEXT NOT NULL,
    action TEXT NOT NULL, user_id TEXT, project_id TEXT, start_time REAL NOT NULL,
    finish_time REAL, message TEXT);
CREATE TABLE instance_action_events (
    id INTEGER PRIMARY KEY, action_id INTEGER NOT NULL, event TEXT NOT NULL, host TEXT,
    start_time REAL NOT NULL, finish_time REAL, result TEXT, details TEXT);
CREATE TABLE instance_faults (
    id INTEGER PRIMARY KEY, instance_uuid TEXT NOT NULL, code INTEGER NOT NULL,
    message TEXT NOT NULL, details TEXT, host TEXT, request_id TEXT, created_at REAL NOT NULL);
CREATE TABLE images (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, disk_format TEXT NOT NULL, size INTEGER NOT NULL,
    checksum TEXT NOT NULL, type TEXT NOT NULL DEFAULT 'image', instance_uuid TEXT,
    path TEXT NOT NULL, properties TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL DEFAULT 'active',
    created_at REAL NOT NULL);
CREATE TABLE ip_allocations (
    network TEXT NOT NULL, address TEXT NOT NULL, instance_uuid TEXT NOT NULL,
    allocated_at REAL NOT NULL, PRIMARY KEY (network, address));
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload TEXT NOT NULL,
    created_at REAL NOT NULL, claimed_by TEXT);
CREATE TABLE migrations (
    id INTEGER PRIMARY KEY, instance_uuid TEXT NOT NULL, migration_type TEXT NOT NULL,
    source_host TEXT, dest_host TEXT, old_flavor TEXT, new_flavor TEXT, status TEXT NOT NULL,
    held_host TEXT, held_vcpus INTEGER NOT NULL DEFAULT 0, held_memory_mb INTEGER NOT NULL DEFAULT 0,
    held_root_gb INTEGER NOT NULL DEFAULT 0, request_id TEXT, created_at REAL NOT NULL,
    updated_at REAL NOT NULL);
CREATE TABLE services (
    host TEXT PRIMARY KEY, pid INTEGER, heartbeat REAL, disabled INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT, forced_down INTEGER NOT NULL DEFAULT 0, uri TEXT,
    vcpus INTEGER, memory_mb INTEGER, disk_gb INTEGER, last_error TEXT);
"""


def _old_store(path):
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    conn.execute("INSERT INTO instances (uuid, name, flavor, vcpus, memory_mb, root_gb, vm_state, "
                 "created_at) VALUES ('u1', 'old', 'm1.tiny', 1, 512, 1, 'active', ?)", (time.time(),))
    conn.execute("INSERT INTO migrations (instance_uuid, migration_type, status, created_at, "
                 "updated_at) VALUES ('u1', 'migration', 'finished', 1, 1)")
    conn.commit()
    conn.close()


def _columns(path, table):
    with sqlite3.connect(path) as conn:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _version(path):
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]


def test_head_is_the_newest_revision():
    from alembic.script import ScriptDirectory

    from core.migrations import config

    assert ScriptDirectory.from_config(config()).get_heads() == [HEAD]


def test_a_store_made_before_migrations_is_upgraded_not_recreated(tmp_path):
    path = tmp_path / "novatui.db"
    _old_store(path)
    fresh = []
    store = Store(path, on_fresh=lambda: fresh.append(True))
    try:
        assert fresh == []  # it held tables: not a new store
        assert store.get_instance("u1")["name"] == "old"
        [mig] = store.list_migrations("u1")
        assert mig["disk_size"] is None and mig["disk_sha256"] is None
        assert store.update_migration(mig["id"], expected_status="finished", disk_size=5,
                                      disk_sha256="abc")
    finally:
        store.close()
    assert _columns(path, "migrations")[-2:] == ["disk_size", "disk_sha256"]
    assert _version(path) == [HEAD]
    Store(path).close()  # a second open finds it at head
    assert _version(path) == [HEAD]


def test_a_new_store_is_made_by_the_migrations(tmp_path):
    path = tmp_path / "novatui.db"
    fresh = []
    Store(path, on_fresh=lambda: fresh.append(True)).close()
    assert fresh  # told before the schema was made
    assert _version(path) == [HEAD]
    assert _columns(path, "instances")[:3] == ["uuid", "name", "flavor"]


def test_read_only_never_migrates_nor_writes(tmp_path):
    path = tmp_path / "novatui.db"
    _old_store(path)
    ro = Store(path, read_only=True)
    try:
        assert ro.get_instance("u1")["name"] == "old"
        with pytest.raises(Exception, match="readonly"):
            ro.heartbeat("h1", 1)
    finally:
        ro.close()
    assert "disk_size" not in _columns(path, "migrations")
    with sqlite3.connect(path) as conn:
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name='alembic_version'").fetchall()


def test_read_only_on_a_missing_file_is_refused(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "nope.db", read_only=True)


def test_nested_tx_commits_once_and_rolls_back_whole(tmp_path):
    store = Store(tmp_path / "novatui.db")
    try:
        with pytest.raises(RuntimeError):
            with store.tx():
                store.put_message("t", {"args": {}})
                with store.tx():
                    store.heartbeat("h1", 1)
                raise RuntimeError
        assert store.pending_messages() == [] and store.services() == {}
        with store.tx():
            with store.tx():
                store.heartbeat("h1", 1)
            assert store.conn.in_transaction  # the inner one did not commit
        assert not store.conn.in_transaction and list(store.services()) == ["h1"]
    finally:
        store.close()


def test_after_commit_runs_once_the_outermost_commits_and_never_after_a_rollback(tmp_path):
    store = Store(tmp_path / "novatui.db")
    ran: list[str] = []
    try:
        store.after_commit(lambda: ran.append("now"))   # no transaction: at once
        with store.tx():
            with store.tx():
                store.after_commit(lambda: ran.append("outer commit"))
            assert ran == ["now"]
        assert ran == ["now", "outer commit"]
        with pytest.raises(RuntimeError):
            with store.tx():
                store.after_commit(lambda: ran.append("rolled back"))
                raise RuntimeError
        with store.tx():
            pass
        assert ran == ["now", "outer commit"]
    finally:
        store.close()


@pytest.mark.parametrize("url,message", [
    ("mysql://u:p@h/db", "database.connection: unknown database 'mysql'"),
    ("not a url", "database.connection: is not a database URL"),
    ("postgresql+asyncpg://u@h/db", "database.connection: unknown driver 'postgresql+asyncpg'"),
    ("postgresql://u:secret@h", "database.connection: names no database"),
])
def test_bad_database_connection_is_one_clear_line(tmp_path, url, message):
    path = tmp_path / "hosts.toml"
    path.write_text((ROOT / "hosts.toml").read_text() + f'\n[database]\nconnection = "{url}"\n')
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert message in str(e.value) and "\n" not in str(e.value) and "secret" not in str(e.value)


def test_database_connection_is_optional(tmp_path):
    assert load_config(ROOT / "hosts.toml").database_connection is None
    path = tmp_path / "hosts.toml"
    url = "postgresql://nova:pw@127.0.0.1:5432/novatui"
    path.write_text((ROOT / "hosts.toml").read_text() + f'\n[database]\nconnection = "{url}"\n')
    assert load_config(path).database_connection == url


def test_the_wal_is_checkpointed_by_its_own_thread_not_by_commits(tmp_path):
    """A commit never checkpoints (the connections' wal_autocheckpoint is 0: in a burst
    that was every commit, with two syncs, on a request's thread); the store's checkpoint
    thread copies the WAL into the database file within a second or so of the writes,
    while every connection stays open."""
    from tests.conftest import eventually
    path = tmp_path / "novatui.db"
    store = Store(path)
    try:
        assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        time.sleep(1.5)   # the migrations' checkpoint, if one is due, is done
        before = path.stat().st_size
        for i in range(300):   # rows enough for the database file to grow by pages
            store.put_message("compute.cmp1", {"method": "pause", "request_id": f"req-{i}",
                                               "args": {"uuid": "x" * 200, "i": i}})
        assert eventually(lambda: path.stat().st_size > before, timeout=5)
    finally:
        store.close()
    assert not (tmp_path / "novatui.db-wal").exists()   # the last connection's checkpoint


def test_a_close_that_comes_as_a_checkpoint_round_begins_still_ends_the_thread(tmp_path):
    """close() signals (closed, then wake) landing just as the thread's wait for more writes
    ends, before its round begins: the wake must not be lost. It was: the round cleared it,
    the thread then waited for a write forever and close() for the thread (CI's crash tier:
    a `server list` that never exited)."""
    import threading

    from core.store_checkpoint import WalCheckpointer
    path = tmp_path / "novatui.db"
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").connection.close()
    checkpointer = WalCheckpointer(path)

    class ClosedAsTheWaitEnds(threading.Event):
        """The thread's wait of CHECKPOINT_SECONDS: it ends as a timeout (not closed yet),
        and close()'s two signals come before the thread's next statement."""
        came = False

        def wait(self, timeout=None):
            if timeout is None or self.is_set() or self.came:
                return super().wait(timeout)
            self.came = True
            self.set()
            checkpointer._wake.set()
            return False

    checkpointer._closed = ClosedAsTheWaitEnds()
    checkpointer.wrote()
    checkpointer._thread.join(timeout=5)
    assert checkpointer._closed.came
    assert not checkpointer._thread.is_alive(), "the checkpoint thread missed close()"


def test_one_process_writers_queue_on_a_lock_not_on_sqlites_busy_sleeps(tmp_path):
    """SQLite's busy handler waits by sleeping (1, 2, 5, 10 ms… then trying again): the
    service's threads did so 3 times a request in a burst. They queue on the Database's lock
    instead. With the busy wait turned off on every connection, any writer that met
    another's transaction would fail at once with "database is locked"."""
    import threading

    store = Store(tmp_path / "novatui.db")
    errors, start = [], threading.Barrier(6)

    def writer(n: int) -> None:
        try:
            store.conn.execute("PRAGMA busy_timeout=0")
            start.wait()
            for i in range(60):
                with store.tx():   # a transaction held across a few statements
                    store.put_message(f"t{n}", {"args": {"i": i}})
                    store.heartbeat(f"h{n}", i)
                store.heartbeat(f"h{n}", i)   # and a write of its own, outside one
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert len(store.pending_messages()) == 6 * 60 and len(store.services()) == 6
    finally:
        store.close()
