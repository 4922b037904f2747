"""The message bus's mailbox in the store: a cast is a row, claimed by one consumer and
deleted in the transaction that commits the step it carried. Mixed into Store."""
from __future__ import annotations

import json
import time

from sqlalchemy import bindparam, delete, exists, insert, literal_column, select, update

from .store_schema import messages

C = messages.c
PUT = insert(messages).returning(C.id)
# One consumer gets a message: FOR UPDATE SKIP LOCKED makes a second consumer on PostgreSQL
# pass over the row the first is taking (SQLite, which serializes writers, renders none).
_NEXT = (select(C.id).where(C.topic == bindparam("w_topic"), C.claimed_by.is_(None))
         .order_by(C.id).limit(1).with_for_update(skip_locked=True).scalar_subquery())
# ...and whether a newer one waits behind it: its consumer claims again at once (a burst)
# only then. Spelled out, as SQLite's RETURNING names the updated table's columns bare.
_col = literal_column
_MORE = exists(select(_col("1")).select_from(messages.alias("later")).where(
    _col("later.topic") == _col("messages.topic"), _col("later.claimed_by").is_(None),
    _col("later.id") > _col("messages.id"))).label("more")
CLAIM = (update(messages).where(C.id == _NEXT, C.claimed_by.is_(None))
         .values(claimed_by=bindparam("v_owner")).returning(C.id, C.payload, _MORE))
CLAIM_ID = (update(messages).where(C.id == bindparam("w_id"), C.claimed_by.is_(None))
            .values(claimed_by=bindparam("v_owner")).returning(C.id, C.payload))
RELEASE = update(messages).where(C.id == bindparam("w_id")).values(claimed_by=None)
DELETE = delete(messages).where(C.id == bindparam("w_id"))
PENDING = select(C.id, C.topic, C.payload, C.claimed_by)
UNCLAIMED_TOPICS = select(C.topic).where(C.claimed_by.is_(None)).distinct()
PENDING_TOPIC = PENDING.where(C.topic == bindparam("w_topic"))
CLAIMED = select(C.id, C.claimed_by).where(C.topic == bindparam("w_topic"), C.claimed_by.is_not(None))
MATCHING = PENDING.where(C.payload.like(bindparam("w_pattern")))
PUT_UNLESS_QUEUED = (insert(messages).from_select(
    ["topic", "payload", "created_at"],
    select(bindparam("v_topic", type_=C.topic.type), bindparam("v_payload", type_=C.payload.type),
           bindparam("v_at", type_=C.created_at.type))
    .where(~exists(select(literal_column("1")).select_from(messages)
                   .where(C.payload.like(bindparam("w_pattern"))))))
    .execution_options(preserve_rowcount=True))  # an INSERT's rowcount is kept only when asked


class Mailbox:
    def put_message(self, topic: str, payload: dict) -> int:
        return self._scalar(PUT, {"topic": topic, "payload": json.dumps(payload),
                                  "created_at": time.time()})

    def claim_message(self, topic: str, owner: str) -> tuple[int, dict] | None:
        claimed = self.claim_next(topic, owner)
        return claimed[:2] if claimed else None

    def claim_next(self, topic: str, owner: str) -> tuple[int, dict, bool] | None:
        """The topic's oldest unclaimed message, claimed, and whether more wait behind it."""
        row = self._row(CLAIM, {"w_topic": topic, "v_owner": owner})
        return (row["id"], json.loads(row["payload"]), bool(row["more"])) if row else None

    def unclaimed_topics(self) -> set[str]:
        """The topics with a message nobody has claimed: one read for every consumer of a
        process, where each polling for itself would write."""
        return set(self._column(UNCLAIMED_TOPICS))

    def claim_message_id(self, message_id: int, owner: str) -> tuple[int, dict] | None:
        """Claim one message a broker delivered; None when it is done (gone) or another
        consumer has it: a delivery twice is done once."""
        row = self._row(CLAIM_ID, {"w_id": message_id, "v_owner": owner})
        return (row["id"], json.loads(row["payload"])) if row else None

    def release_claim(self, message_id: int) -> None:
        """Give a claimed message back to the queue (its claimer died)."""
        self._count(RELEASE, {"w_id": message_id})

    def delete_message(self, message_id: int) -> None:
        self._count(DELETE, {"w_id": message_id})

    def pending_messages(self, topic: str | None = None) -> list[dict]:
        rows = self._rows(PENDING_TOPIC, {"w_topic": topic}) if topic else self._rows(PENDING)
        return [dict(r, payload=json.loads(r["payload"])) for r in rows]

    def requeue_claims(self, topic: str, alive) -> int:
        """Give back the messages of `topic` whose claimer is dead (alive(owner) is False):
        the step it was running runs again, and every step is idempotent."""
        rows = self._rows(CLAIMED, {"w_topic": topic})
        dead = [r["id"] for r in rows if not alive(r["claimed_by"])]
        for mid in dead:
            self.release_claim(mid)
        return len(dead)

    def messages_for(self, uuid: str) -> list[dict]:
        """The queued or running steps of one instance, on any topic (the payload's text is
        matched in SQL, as put_message_unless_queued does, then checked exactly)."""
        rows = self._rows(MATCHING, {"w_pattern": f"%{uuid}%"})
        found = [dict(r, payload=json.loads(r["payload"])) for r in rows]
        return [m for m in found if m["payload"]["args"].get("uuid") == uuid]

    def put_message_unless_queued(self, topic: str, payload: dict, uuid: str) -> bool:
        """Queue a step for an instance only if none of its steps is queued or running
        (recovery's re-send), in one statement so it cannot race another process's (in a
        write transaction: on PostgreSQL, that serializes it with the other writers)."""
        with self.tx():
            return self._count(PUT_UNLESS_QUEUED, {
                "v_topic": topic, "v_payload": json.dumps(payload), "v_at": time.time(),
                "w_pattern": f"%{uuid}%"}) == 1
