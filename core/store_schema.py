"""The store's tables, as SQLAlchemy Core Table objects: the one definition the Store's
statements and the alembic migrations (core/migrations) are built from. The names and the
SQLite column types are those of the stores made before SQLAlchemy, so that an old file and
a new one are the same database (and tests can read either with sqlite3)."""
from __future__ import annotations

from sqlalchemy import (Column, Double, Index, Integer, MetaData, PrimaryKeyConstraint, Table,
                        Text, UniqueConstraint, text)
from sqlalchemy.dialects import sqlite

# time.time() values: REAL on SQLite (as before), double precision on PostgreSQL (its REAL
# is 4 bytes, which would round a timestamp to minutes).
Real = Double().with_variant(sqlite.REAL(), "sqlite")

metadata = MetaData()

instances = Table(
    "instances", metadata,
    Column("uuid", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("flavor", Text, nullable=False),
    Column("vcpus", Integer, nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("root_gb", Integer, nullable=False),
    Column("image", Text),
    Column("image_id", Text),
    Column("vm_state", Text, nullable=False),
    Column("task_state", Text),
    Column("power_state", Integer, nullable=False, server_default=text("0")),
    Column("host", Text),
    Column("availability_zone", Text),
    Column("ip", Text),
    Column("locked", Integer, nullable=False, server_default=text("0")),
    Column("locked_reason", Text),
    Column("created_at", Real, nullable=False),
    Column("launched_at", Real),
    Column("updated_at", Real),
    Column("deleted_at", Real),
    Column("sys_meta", Text, nullable=False, server_default=text("'{}'")),
    Column("progress", Integer),
)
Index("instances_host", instances.c.host, sqlite_where=instances.c.deleted_at.is_(None),
      postgresql_where=instances.c.deleted_at.is_(None))
Index("instances_name", instances.c.name)
Index("instances_updated", instances.c.updated_at)

instance_actions = Table(
    "instance_actions", metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", Text, nullable=False),
    Column("instance_uuid", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("user_id", Text),
    Column("project_id", Text),
    Column("start_time", Real, nullable=False),
    Column("finish_time", Real),
    Column("message", Text),
    UniqueConstraint("request_id"),
)
Index("actions_instance", instance_actions.c.instance_uuid)

instance_action_events = Table(
    "instance_action_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("action_id", Integer, nullable=False),
    Column("event", Text, nullable=False),
    Column("host", Text),
    Column("start_time", Real, nullable=False),
    Column("finish_time", Real),
    Column("result", Text),
    Column("details", Text),
)
Index("events_action", instance_action_events.c.action_id)

instance_faults = Table(
    "instance_faults", metadata,
    Column("id", Integer, primary_key=True),
    Column("instance_uuid", Text, nullable=False),
    Column("code", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Column("details", Text),
    Column("host", Text),
    Column("request_id", Text),
    Column("created_at", Real, nullable=False),
)
Index("faults_instance", instance_faults.c.instance_uuid)

images = Table(
    "images", metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("disk_format", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("checksum", Text, nullable=False),
    Column("type", Text, nullable=False, server_default=text("'image'")),
    Column("instance_uuid", Text),
    Column("path", Text, nullable=False),
    Column("properties", Text, nullable=False, server_default=text("'{}'")),
    Column("status", Text, nullable=False, server_default=text("'active'")),
    Column("created_at", Real, nullable=False),
)

ip_allocations = Table(
    "ip_allocations", metadata,
    Column("network", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("instance_uuid", Text, nullable=False),
    Column("allocated_at", Real, nullable=False),
    PrimaryKeyConstraint("network", "address"),
)

messages = Table(
    "messages", metadata,
    Column("id", Integer, primary_key=True),
    Column("topic", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", Real, nullable=False),
    Column("claimed_by", Text),
    sqlite_autoincrement=True,  # ids never reused: a deleted message's id stays gone
)
Index("messages_topic", messages.c.topic, messages.c.claimed_by)

migrations = Table(
    "migrations", metadata,
    Column("id", Integer, primary_key=True),
    Column("instance_uuid", Text, nullable=False),
    Column("migration_type", Text, nullable=False),
    Column("source_host", Text),
    Column("dest_host", Text),
    Column("old_flavor", Text),
    Column("new_flavor", Text),
    Column("status", Text, nullable=False),
    Column("held_host", Text),
    Column("held_vcpus", Integer, nullable=False, server_default=text("0")),
    Column("held_memory_mb", Integer, nullable=False, server_default=text("0")),
    Column("held_root_gb", Integer, nullable=False, server_default=text("0")),
    Column("request_id", Text),
    Column("created_at", Real, nullable=False),
    Column("updated_at", Real, nullable=False),
    Column("disk_size", Integer),
    Column("disk_sha256", Text),
)
Index("migrations_instance", migrations.c.instance_uuid)

services = Table(
    "services", metadata,
    Column("host", Text, primary_key=True),
    Column("pid", Integer),
    Column("heartbeat", Real),
    Column("disabled", Integer, nullable=False, server_default=text("0")),
    Column("disabled_reason", Text),
    Column("forced_down", Integer, nullable=False, server_default=text("0")),
    Column("uri", Text),
    Column("vcpus", Integer),
    Column("memory_mb", Integer),
    Column("disk_gb", Integer),
    Column("last_error", Text),
)

# Migrations that still hold resources or may still move the instance.
ACTIVE_MIGRATION = ("pre-migrating", "migrating", "post-migrating", "finished", "confirming",
                    "reverting", "accepted", "preparing", "running")
