"""Migration records in the store: the one state of a move, changed by compare-and-swap on
its status. Mixed into Store."""
from __future__ import annotations

import time

# Migrations that still hold resources or may still move the instance.
ACTIVE_MIGRATION = "('pre-migrating', 'migrating', 'post-migrating', 'finished', 'confirming', " \
                   "'reverting', 'accepted', 'preparing', 'running')"

class Migrations:
    def create_migration(self, fields: dict) -> int:
        now = time.time()
        fields = {**fields, "created_at": now, "updated_at": now}
        cur = self.conn.execute(
            f"INSERT INTO migrations ({', '.join(fields)}) VALUES ({', '.join('?' for _ in fields)})",
            tuple(fields.values()))
        return cur.lastrowid

    def update_migration(self, migration_id: int, expected_status=None, **fields) -> bool:
        """Write fields; with expected_status (a status or a tuple of them), only if the
        migration is still in it: the compare-and-swap every move step and recovery goes
        through, so two of them never both act on one move. False when it was not."""
        fields["updated_at"] = time.time()
        sets = ", ".join(f"{k}=?" for k in fields)
        sql, args = f"UPDATE migrations SET {sets} WHERE id=?", [*fields.values(), migration_id]
        if expected_status is not None:
            statuses = (expected_status,) if isinstance(expected_status, str) else tuple(expected_status)
            sql += f" AND status IN ({', '.join('?' for _ in statuses)})"
            args += statuses
        return self.conn.execute(sql, args).rowcount == 1

    def get_migration(self, migration_id: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM migrations WHERE id=?", (migration_id,)).fetchone()
        return dict(row) if row else None

    def active_migration(self, uuid: str) -> dict | None:
        row = self.conn.execute(
            f"SELECT * FROM migrations WHERE instance_uuid=? AND status IN {ACTIVE_MIGRATION} "
            "ORDER BY id DESC LIMIT 1", (uuid,)).fetchone()
        return dict(row) if row else None

    def finished_migrations(self, dest_host: str, older_than: float) -> list[dict]:
        rows = self.conn.execute(
            "SELECT * FROM migrations WHERE status='finished' AND dest_host=? AND updated_at<?",
            (dest_host, older_than))
        return [dict(r) for r in rows]

    def list_migrations(self, uuid: str | None = None) -> list[dict]:
        sql = "SELECT * FROM migrations" + (" WHERE instance_uuid=?" if uuid else "") + " ORDER BY id"
        return [dict(r) for r in self.conn.execute(sql, (uuid,) if uuid else ())]

    def take_migration(self, uuid: str, status: str) -> int | None:
        """The API's compare-and-swap for confirm: the instance's 'finished' migration moves
        to `status`, once. Its id; None when there is none (not resized, or confirmed)."""
        cur = self.conn.execute(
            "UPDATE migrations SET status=?, updated_at=? WHERE id=(SELECT id FROM migrations "
            "WHERE instance_uuid=? AND status='finished' ORDER BY id DESC LIMIT 1) RETURNING id",
            (status, time.time(), uuid))
        row = cur.fetchone()
        cur.close()
        return row[0] if row else None

    def migrations_in(self, status: str, source_host: str) -> list[dict]:
        rows = self.conn.execute("SELECT * FROM migrations WHERE status=? AND source_host=?",
                                 (status, source_host))
        return [dict(r) for r in rows]
