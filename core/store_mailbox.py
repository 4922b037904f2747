"""The message bus's mailbox in the store: a cast is a row, claimed by one consumer and
deleted in the transaction that commits the step it carried. Mixed into Store."""
from __future__ import annotations

import json
import time


class Mailbox:
    def put_message(self, topic: str, payload: dict) -> int:
        cur = self.conn.execute(
            "INSERT INTO messages (topic, payload, created_at) VALUES (?, ?, ?)",
            (topic, json.dumps(payload), time.time()))
        return cur.lastrowid

    def claim_message(self, topic: str, owner: str) -> tuple[int, dict] | None:
        cur = self.conn.execute(
            "UPDATE messages SET claimed_by=? WHERE id=(SELECT id FROM messages WHERE topic=? "
            "AND claimed_by IS NULL ORDER BY id LIMIT 1) RETURNING id, payload", (owner, topic))
        row = cur.fetchone()
        cur.close()
        return (row[0], json.loads(row[1])) if row else None

    def release_claim(self, message_id: int) -> None:
        """Give a claimed message back to the queue (its claimer died)."""
        self.conn.execute("UPDATE messages SET claimed_by=NULL WHERE id=?", (message_id,))

    def delete_message(self, message_id: int) -> None:
        self.conn.execute("DELETE FROM messages WHERE id=?", (message_id,))

    def pending_messages(self, topic: str | None = None) -> list[dict]:
        sql = "SELECT id, topic, payload, claimed_by FROM messages"
        rows = self.conn.execute(sql + (" WHERE topic=?" if topic else ""),
                                 (topic,) if topic else ()).fetchall()
        return [dict(r, payload=json.loads(r["payload"])) for r in rows]

    def requeue_claims(self, topic: str, alive) -> int:
        """Give back the messages of `topic` whose claimer is dead (alive(owner) is False):
        the step it was running runs again, and every step is idempotent."""
        rows = self.conn.execute("SELECT id, claimed_by FROM messages WHERE topic=? AND "
                                 "claimed_by IS NOT NULL", (topic,)).fetchall()
        dead = [r["id"] for r in rows if not alive(r["claimed_by"])]
        for mid in dead:
            self.release_claim(mid)
        return len(dead)

    def messages_for(self, uuid: str) -> list[dict]:
        """The queued or running steps of one instance, on any topic (the payload's text is
        matched in SQL, as put_message_unless_queued does, then checked exactly)."""
        rows = self.conn.execute("SELECT id, topic, payload, claimed_by FROM messages WHERE "
                                 "payload LIKE ?", (f"%{uuid}%",)).fetchall()
        found = [dict(r, payload=json.loads(r["payload"])) for r in rows]
        return [m for m in found if m["payload"]["args"].get("uuid") == uuid]

    def put_message_unless_queued(self, topic: str, payload: dict, uuid: str) -> bool:
        """Queue a step for an instance only if none of its steps is queued or running
        (recovery's re-send), in one statement so it cannot race another process's."""
        pattern = f"%{uuid}%"
        cur = self.conn.execute(
            "INSERT INTO messages (topic, payload, created_at) SELECT ?, ?, ? WHERE NOT EXISTS "
            "(SELECT 1 FROM messages WHERE payload LIKE ?)",
            (topic, json.dumps(payload), time.time(), pattern))
        return cur.rowcount == 1

