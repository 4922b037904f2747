"""Migration records in the store: the one state of a move, changed by compare-and-swap on
its status. Mixed into Store."""
from __future__ import annotations

import time
from functools import lru_cache

from sqlalchemy import bindparam, insert, select, update

from .store_schema import ACTIVE_MIGRATION, migrations

M = migrations.c
CREATE = insert(migrations).returning(M.id)
GET = select(migrations).where(M.id == bindparam("w_id"))
ACTIVE = (select(migrations).where(M.instance_uuid == bindparam("w_uuid"),
                                   M.status.in_(ACTIVE_MIGRATION)).order_by(M.id.desc()).limit(1))
FINISHED = select(migrations).where(M.status == "finished", M.dest_host == bindparam("w_host"),
                                    M.updated_at < bindparam("w_before"))
LIST = select(migrations).order_by(M.id)
LIST_FOR = LIST.where(M.instance_uuid == bindparam("w_uuid"))
IN_STATUS = select(migrations).where(M.status == bindparam("w_status"),
                                     M.source_host == bindparam("w_host"))
# The status is checked again in the UPDATE itself: on PostgreSQL, of two takers that chose
# the same row, the second then finds it taken (its WHERE is re-read after the first commits).
_NEWEST_FINISHED = (select(M.id).where(M.instance_uuid == bindparam("w_uuid"), M.status == "finished")
                    .order_by(M.id.desc()).limit(1).scalar_subquery())
TAKE = (update(migrations).where(M.id == _NEWEST_FINISHED, M.status == "finished")
        .values(status=bindparam("v_status"), updated_at=bindparam("v_at")).returning(M.id))


@lru_cache(maxsize=None)
def _update_stmt(guarded: bool):
    stmt = update(migrations).where(M.id == bindparam("w_id"))
    if guarded:
        stmt = stmt.where(M.status.in_(bindparam("w_status", expanding=True)))
    return stmt


class Migrations:
    def create_migration(self, fields: dict) -> int:
        now = time.time()
        return self._scalar(CREATE, {**fields, "created_at": now, "updated_at": now})

    def update_migration(self, migration_id: int, expected_status=None, **fields) -> bool:
        """Write fields; with expected_status (a status or a tuple of them), only if the
        migration is still in it: the compare-and-swap every move step and recovery goes
        through, so two of them never both act on one move. False when it was not."""
        fields["updated_at"] = time.time()
        params = {**fields, "w_id": migration_id}
        if expected_status is not None:
            params["w_status"] = ([expected_status] if isinstance(expected_status, str)
                                  else list(expected_status))
        return self._count(_update_stmt(expected_status is not None), params) == 1

    def get_migration(self, migration_id: int) -> dict | None:
        return self._row(GET, {"w_id": migration_id})

    def active_migration(self, uuid: str) -> dict | None:
        return self._row(ACTIVE, {"w_uuid": uuid})

    def finished_migrations(self, dest_host: str, older_than: float) -> list[dict]:
        return self._rows(FINISHED, {"w_host": dest_host, "w_before": older_than})

    def list_migrations(self, uuid: str | None = None) -> list[dict]:
        return self._rows(LIST_FOR, {"w_uuid": uuid}) if uuid else self._rows(LIST)

    def take_migration(self, uuid: str, status: str) -> int | None:
        """The API's compare-and-swap for confirm: the instance's 'finished' migration moves
        to `status`, once. Its id; None when there is none (not resized, or confirmed)."""
        return self._scalar(TAKE, {"w_uuid": uuid, "v_status": status, "v_at": time.time()})

    def migrations_in(self, status: str, source_host: str) -> list[dict]:
        return self._rows(IN_STATUS, {"w_status": status, "w_host": source_host})
