"""The picture a console paints first, read from an SQLite store with sqlite3 alone.

The store's SQLAlchemy takes a quarter of a second to import, as long as Textual itself: a
console that waited for it would paint its first rows that much later. So the three reads
the first picture needs are the store's own statements (core/store.py's LIST_INSTANCES,
HOST_USAGE and LIST_SERVICES) compiled for SQLite, kept here as text;
tests/engine/test_store_peek.py fails when they drift from the statements, and prints them
anew. A record is made from its row as the store makes it (instance_record, and
instance_records for a list)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

LIST_INSTANCES_SQL = (
    "SELECT instances.uuid, instances.name, instances.flavor, instances.vcpus, "
    "instances.memory_mb, instances.root_gb, instances.image, instances.image_id, "
    "instances.vm_state, instances.task_state, instances.power_state, instances.host, "
    "instances.availability_zone, instances.ip, instances.locked, instances.locked_reason, "
    "instances.created_at, instances.launched_at, instances.updated_at, instances.deleted_at, "
    "instances.sys_meta, instances.progress \nFROM instances \nWHERE instances.deleted_at IS "
    "NULL ORDER BY instances.created_at, rowid")
HOST_USAGE_SQL = (
    "SELECT anon_1.host, sum(anon_1.v) AS v, sum(anon_1.m) AS m, sum(anon_1.d) AS d, "
    "sum(anon_1.n) AS n \nFROM (SELECT instances.host AS host, instances.vcpus AS v, "
    "instances.memory_mb AS m, instances.root_gb AS d, 1 AS n \nFROM instances \nWHERE "
    "instances.deleted_at IS NULL AND instances.host IS NOT NULL UNION ALL SELECT "
    "migrations.held_host AS held_host, migrations.held_vcpus AS held_vcpus, "
    "migrations.held_memory_mb AS held_memory_mb, migrations.held_root_gb AS held_root_gb, 0 "
    "\nFROM migrations \nWHERE migrations.held_host IS NOT NULL AND migrations.status IN "
    "('pre-migrating', 'migrating', 'post-migrating', 'finished', 'confirming', 'reverting', "
    "'accepted', 'preparing', 'running')) AS anon_1 GROUP BY anon_1.host")
LIST_SERVICES_SQL = (
    "SELECT services.host, services.pid, services.heartbeat, services.disabled, "
    "services.disabled_reason, services.forced_down, services.uri, services.vcpus, "
    "services.memory_mb, services.disk_gb, services.last_error \nFROM services")


def instance_record(row: dict | None, decoded: dict | None = None) -> dict | None:
    """An instance as the store gives it, from its row. decoded: the sys_meta texts read so
    far, for a list of rows (most instances' is the same text: each is read once, and each
    row gets its own copy; its values are flat)."""
    if row is None:
        return None
    text = row["sys_meta"] or "{}"
    if decoded is None:
        row["sys_meta"] = json.loads(text)
    else:
        meta = decoded.get(text)
        if meta is None:
            meta = decoded[text] = json.loads(text)
        row["sys_meta"] = dict(meta)
    row["locked"] = bool(row["locked"])
    return row


def instance_records(rows: list[dict]) -> list[dict]:
    decoded: dict[str, dict] = {}
    return [instance_record(row, decoded) for row in rows]


def usage_by_host(rows: list[dict]) -> dict[str, dict]:
    """HOST_USAGE's rows as the store gives them: by host, what its instances hold."""
    return {r["host"]: {"vcpus": r["v"], "memory_mb": r["m"], "disk_gb": r["d"],
                        "instances": r["n"]} for r in rows}


class StorePeek:
    """A read-only look at an SQLite store (mode=ro: it cannot write whatever is asked),
    with the Store methods host_views and the first picture use. sqlite3.Error when the
    store is not as these reads expect (the service's own start says why)."""

    def __init__(self, path: Path):
        self._conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)

    def _rows(self, sql: str) -> list[dict]:
        cursor = self._conn.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r)) for r in cursor.fetchall()]

    def list_instances(self) -> list[dict]:
        return instance_records(self._rows(LIST_INSTANCES_SQL))

    def services(self) -> dict[str, dict]:
        return {r["host"]: r for r in self._rows(LIST_SERVICES_SQL)}

    def host_usage(self, host: str | None = None) -> dict[str, dict]:
        usage = usage_by_host(self._rows(HOST_USAGE_SQL))
        return usage if host is None else {h: u for h, u in usage.items() if h == host}

    def close(self) -> None:
        self._conn.close()
