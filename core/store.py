"""The store: instances, instance actions and events, faults, images, IP allocations, the
message bus's mailbox and the compute services' heartbeats, on SQLAlchemy Core (SQLite in
the state dir, or PostgreSQL: see store_db for the engine and the transactions).

State changes that must not race are single UPDATE statements guarded on the expected
state, so two processes sharing one store cannot both start conflicting actions. The
statements are built once, here, with bind parameters, and compiled once per dialect and
parameter shape (store_db runs them on the driver's connection); an UPDATE of some fields
takes its SET clause from the parameters' names.
"""
from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path

from sqlalchemy import (bindparam, delete, func, insert, literal_column, or_, select,
                        union_all, update)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from .errors import Conflict, UnexpectedTaskState, describe_db_error
from .store_db import Database, DBError, StoreError  # noqa: F401
from .store_mailbox import Mailbox
from .store_migrations import Migrations
from .store_peek import instance_record as _instance, instance_records, usage_by_host
from .store_schema import (ACTIVE_MIGRATION, images, instance_action_events, instance_actions,
                           instance_faults, instances, ip_allocations, migrations, services)

_UNSET = object()
INSTANCE_COLUMNS = tuple(c.name for c in instances.c)


class insertion_order(FunctionElement):
    """SQLite's rowid (the order rows were made in), for ORDER BY ties; elsewhere the
    primary key given."""
    inherit_cache = True


@compiles(insertion_order)
def _rowid(element, compiler, **kw):
    return "rowid"


@compiles(insertion_order, "postgresql")
def _pk(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


def _b(name, **kw):
    return bindparam(name, **kw)


I = instances.c
_LIVE = I.deleted_at.is_(None)
GET_INSTANCE = select(instances).where(I.uuid == _b("w_uuid"))
TASK_STATES = (select(I.uuid, I.task_state, I.deleted_at)
               .where(I.uuid.in_(_b("w_uuids", expanding=True))))
FIND_INSTANCES = select(instances).where(_LIVE, or_(I.uuid == _b("w_ref"), I.name == _b("w_ref")))
LIST_INSTANCES = select(instances).where(_LIVE).order_by(I.created_at, insertion_order(I.uuid))
LIST_HOST_INSTANCES = LIST_INSTANCES.where(I.host == _b("w_host"))
CHANGED_SINCE = select(instances).where(I.updated_at > _b("w_when")).order_by(I.updated_at)
INSERT_INSTANCE = insert(instances).returning(instances)
SET_LOCKED = (update(instances)
              .where(I.uuid == _b("w_uuid"), I.locked == _b("w_was"), _LIVE)
              .values(locked=_b("v_locked"), locked_reason=_b("v_reason"), updated_at=_b("v_at"))
              .returning(I.uuid))


def _task_clause(expected):
    """task_state is one of `expected` (None among them: IS NULL), and the parameter."""
    values = expected if isinstance(expected, (tuple, list)) else (expected,)
    named = [v for v in values if v is not None]
    return (None in values, bool(named)), named


@lru_cache(maxsize=None)
def _task_where(has_null: bool, has_named: bool):
    parts = []
    if has_null:
        parts.append(I.task_state.is_(None))
    if has_named:
        parts.append(I.task_state.in_(_b("w_task", expanding=True)))
    return or_(*parts) if parts else literal_column("1") == literal_column("0")


@lru_cache(maxsize=None)
def _update_instance_stmt(task_shape):
    stmt = update(instances).where(I.uuid == _b("w_uuid"))
    if task_shape is not None:
        stmt = stmt.where(_task_where(*task_shape))
    return stmt.returning(instances)


@lru_cache(maxsize=None)
def _begin_task_stmt(vm: bool, task_shape, unlocked: bool):
    stmt = update(instances).where(I.uuid == _b("w_uuid"), _LIVE)
    if vm:
        stmt = stmt.where(I.vm_state.in_(_b("w_vm", expanding=True)))
    if task_shape is not None:
        stmt = stmt.where(_task_where(*task_shape))
    if unlocked:
        stmt = stmt.where(I.locked == 0)
    return stmt.returning(instances)


M = migrations.c
_usage = union_all(
    select(I.host.label("host"), I.vcpus.label("v"), I.memory_mb.label("m"),
           I.root_gb.label("d"), literal_column("1").label("n"))
    .where(_LIVE, I.host.is_not(None)),
    select(M.held_host, M.held_vcpus, M.held_memory_mb, M.held_root_gb, literal_column("0"))
    .where(M.held_host.is_not(None), M.status.in_(ACTIVE_MIGRATION))).subquery()
HOST_USAGE = select(_usage.c.host, func.sum(_usage.c.v).label("v"), func.sum(_usage.c.m).label("m"),
                    func.sum(_usage.c.d).label("d"), func.sum(_usage.c.n).label("n")
                    ).group_by(_usage.c.host)
HOST_USAGE_ONE = HOST_USAGE.where(_usage.c.host == _b("w_host"))

A, E, F = instance_actions.c, instance_action_events.c, instance_faults.c
START_ACTION = insert(instance_actions).returning(A.id)
FINISH_ACTION = update(instance_actions).where(A.request_id == _b("w_req")).values(finish_time=_b("v_at"))
FINISH_ACTION_ERROR = FINISH_ACTION.values(message="Error")
OPEN_REQUEST = (select(A.request_id).where(A.instance_uuid == _b("w_uuid"), A.finish_time.is_(None))
                .order_by(A.id.desc()).limit(1))
GET_ACTION = select(instance_actions).where(A.request_id == _b("w_req"))
START_EVENT = (insert(instance_action_events)
               .from_select(["action_id", "event", "host", "start_time"],
                            select(A.id, _b("v_event", type_=E.event.type),
                                   _b("v_host", type_=E.host.type), _b("v_at", type_=E.start_time.type))
                            .where(A.request_id == _b("w_req")))
               .returning(E.id))
FINISH_EVENT = update(instance_action_events).where(E.id == _b("w_id"))
LIST_ACTIONS = select(instance_actions).where(A.instance_uuid == _b("w_uuid")).order_by(A.id)
LIST_EVENTS = (select(E.event, E.host, E.start_time, E.finish_time, E.result, E.details)
               .where(E.action_id == _b("w_id")).order_by(E.id))
ADD_FAULT = insert(instance_faults)
LAST_FAULT = (select(instance_faults).where(F.instance_uuid == _b("w_uuid"))
              .order_by(F.id.desc()).limit(1))

G = images.c
_SHOWN = G.status != "deleting"
INSERT_IMAGE = insert(images).returning(images)
GET_IMAGE = select(images).where(G.id == _b("w_id"))
FIND_IMAGES = (select(images).where(or_(G.id == _b("w_ref"), G.name == _b("w_ref")), _SHOWN)
               .order_by(G.created_at, insertion_order(G.id)))
UPDATE_IMAGE = update(images).where(G.id == _b("w_id"))
DELETE_IMAGE = delete(images).where(G.id == _b("w_id"))
LIST_IMAGES = select(images).where(_SHOWN).order_by(G.created_at, insertion_order(G.id))
LIST_IMAGES_IN = (select(images).where(G.status == _b("w_status"))
                  .order_by(G.created_at, insertion_order(G.id)))

P = ip_allocations.c
TAKEN_IPS = select(P.address).where(P.network == _b("w_net"))
INSERT_IP = insert(ip_allocations)
RELEASE_IPS = delete(ip_allocations).where(P.instance_uuid == _b("w_uuid"))

S = services.c
_HEARTBEAT_VALUES = dict(host=_b("v_host"), pid=_b("v_pid"), heartbeat=_b("v_at"))
HEARTBEAT = {}
ADD_SERVICE = {}
for _name, _insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert)):
    _ins = _insert(services).values(_HEARTBEAT_VALUES)
    HEARTBEAT[_name] = _ins.on_conflict_do_update(
        index_elements=[S.host], set_=dict(pid=_ins.excluded.pid, heartbeat=_ins.excluded.heartbeat))
    ADD_SERVICE[_name] = _insert(services).values(host=_b("v_host")).on_conflict_do_nothing(
        index_elements=[S.host])
LIST_SERVICES = select(services)
UPDATE_SERVICE = update(services).where(S.host == _b("w_host"))


def _image(row: dict | None) -> dict | None:
    if row is None:
        return None
    row["properties"] = json.loads(row["properties"] or "{}")
    return row


class Store(Database, Mailbox, Migrations):
    """`target`: the SQLite file, or a database URL (postgresql://…).
    read_only: SQLite's mode=ro (PostgreSQL: read-only transactions), so a read-only process
    cannot write the store whatever its code does; it never migrates the schema. on_fresh is
    called when the store holds no schema yet (a new, empty or zero-byte file, an empty
    database), before the schema is made, and may refuse."""

    def __init__(self, target: str | Path, read_only: bool = False, on_fresh=None):
        self._open_engine(target, read_only)
        sqlite_file = self.dialect == "sqlite"
        if sqlite_file and not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if sqlite_file and not read_only and on_fresh is not None and (
                not self.path.exists() or self.path.stat().st_size == 0):
            on_fresh()  # before SQLite writes a header into an empty file
        try:
            if sqlite_file and read_only and not self.path.is_file():
                raise StoreError(f"state store {self.path} does not exist; a read-only process "
                                 "cannot create it")
            if not self._has_schema() and on_fresh is not None:
                on_fresh()  # may refuse an empty store (a lost database) before it is made
            if not read_only and self._needs_migration():
                self._migrate()
        except DBError as e:
            self.close()
            raise StoreError(describe_db_error(self.where, e)) from None
        except BaseException:
            self.close()
            raise

    # -- instances ---------------------------------------------------------------------
    def create_instance(self, fields: dict) -> dict:
        fields = dict(fields)
        fields["sys_meta"] = json.dumps(fields.get("sys_meta", {}))
        fields.setdefault("updated_at", fields["created_at"])
        return _instance(self._row(INSERT_INSTANCE, fields))

    def get_instance(self, uuid: str) -> dict | None:
        return _instance(self._row(GET_INSTANCE, {"w_uuid": uuid}))

    def task_states(self, uuids) -> dict[str, dict]:
        """{uuid: {"task_state", "deleted_at"}} of those of `uuids` the store knows, deleted
        ones too: a host's start-up sweep judges its hundreds of guests and folders with a
        few reads, not one read of a whole row each."""
        uuids, found = list(uuids), {}
        for at in range(0, len(uuids), 500):
            for row in self._rows(TASK_STATES, {"w_uuids": uuids[at:at + 500]}):
                found[row["uuid"]] = row
        return found

    def find_instances(self, ref: str) -> list[dict]:
        """Live instances whose uuid is `ref`, or whose name is `ref`."""
        rows = self._rows(FIND_INSTANCES, {"w_ref": ref})
        exact = [r for r in rows if r["uuid"] == ref]
        return [_instance(r) for r in (exact or rows)]

    def list_instances(self, host: str | None = None) -> list[dict]:
        if host is None:
            rows = self._rows(LIST_INSTANCES)
        else:
            rows = self._rows(LIST_HOST_INSTANCES, {"w_host": host})
        return instance_records(rows)

    def changed_since(self, when: float) -> list[dict]:
        """Instances written after `when` (deleted ones too): how a watcher sees what other
        processes sharing the store did."""
        return instance_records(self._rows(CHANGED_SINCE, {"w_when": when}))

    def update_instance(self, uuid: str, expected_task_state=_UNSET, **fields) -> dict:
        """Write fields; with expected_task_state (a value or a tuple of values), only if the
        instance's task_state is still that (Nova's save(expected_task_state=...))."""
        if "sys_meta" in fields:
            fields["sys_meta"] = json.dumps(fields["sys_meta"])
        fields["updated_at"] = time.time()
        params = {**fields, "w_uuid": uuid}
        shape = None
        if expected_task_state is not _UNSET:
            shape, params["w_task"] = _task_clause(expected_task_state)
        row = self._row(_update_instance_stmt(shape), params)
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
        lock still allow it, in one conditional UPDATE. None when another request got
        there first."""
        fields["task_state"] = new_task_state
        fields["updated_at"] = time.time()
        params = {**fields, "w_uuid": uuid}
        shape = None
        if vm_states is not None:
            params["w_vm"] = list(vm_states)
        if task_states is not None:
            shape, params["w_task"] = _task_clause(tuple(task_states))
        stmt = _begin_task_stmt(vm_states is not None, shape, bool(require_unlocked))
        return _instance(self._row(stmt, params))

    def set_locked(self, uuid: str, locked: bool) -> bool:
        """Lock or unlock, only if it is not so already (False when it was)."""
        return self._row(SET_LOCKED, {
            "w_uuid": uuid, "w_was": int(not locked), "v_locked": int(locked),
            "v_reason": "admin" if locked else None, "v_at": time.time()}) is not None

    def host_usage(self, host: str | None = None) -> dict[str, dict]:
        """vCPUs, RAM, disk and instances held on each host (or on one host): the instances
        placed there, plus what a migration in progress holds there (its claim on the
        destination, or the source kept until confirm)."""
        return usage_by_host(self._rows(HOST_USAGE_ONE, {"w_host": host}) if host
                             else self._rows(HOST_USAGE))

    # -- instance actions, events, faults ----------------------------------------------
    def start_action(self, uuid: str, action: str, request_id: str, user: str = "admin") -> int:
        return self._scalar(START_ACTION, dict(
            request_id=request_id, instance_uuid=uuid, action=action, user_id=user,
            project_id=user, start_time=time.time()))

    def finish_action(self, request_id: str, error: bool = False) -> None:
        self._count(FINISH_ACTION_ERROR if error else FINISH_ACTION,
                    {"w_req": request_id, "v_at": time.time()})

    def open_request(self, uuid: str) -> str | None:
        """The request id of the instance's newest unfinished action."""
        return self._scalar(OPEN_REQUEST, {"w_uuid": uuid})

    def get_action(self, request_id: str) -> dict | None:
        return self._row(GET_ACTION, {"w_req": request_id})

    def start_event(self, request_id: str, event: str, host: str | None) -> int | None:
        return self._scalar(START_EVENT, {"v_event": event, "v_host": host,
                                          "v_at": time.time(), "w_req": request_id})

    def finish_event(self, event_id: int | None, result: str, details: str | None = None) -> None:
        if event_id is not None:
            self._count(FINISH_EVENT, {"w_id": event_id, "finish_time": time.time(),
                                       "result": result, "details": details})

    def list_actions(self, uuid: str) -> list[dict]:
        actions = self._rows(LIST_ACTIONS, {"w_uuid": uuid})
        for a in actions:
            a["events"] = self._rows(LIST_EVENTS, {"w_id": a["id"]})
        return actions

    def add_fault(self, uuid: str, code: int, message: str, details: str | None,
                  host: str | None, request_id: str | None) -> None:
        self._count(ADD_FAULT, dict(instance_uuid=uuid, code=code, message=message,
                                    details=details, host=host, request_id=request_id,
                                    created_at=time.time()))

    def last_fault(self, uuid: str) -> dict | None:
        return self._row(LAST_FAULT, {"w_uuid": uuid})

    # -- images ------------------------------------------------------------------------
    def add_image(self, fields: dict) -> dict:
        fields = dict(fields, properties=json.dumps(fields.get("properties", {})))
        return _image(self._row(INSERT_IMAGE, fields))

    def get_image(self, image_id: str) -> dict | None:
        return _image(self._row(GET_IMAGE, {"w_id": image_id}))

    def find_images(self, ref: str) -> list[dict]:
        rows = self._rows(FIND_IMAGES, {"w_ref": ref})
        exact = [r for r in rows if r["id"] == ref]
        return [_image(r) for r in (exact or rows)]

    def update_image(self, image_id: str, **fields) -> None:
        if "properties" in fields:
            fields["properties"] = json.dumps(fields["properties"])
        self._count(UPDATE_IMAGE, {**fields, "w_id": image_id})

    def delete_image(self, image_id: str) -> None:
        self._count(DELETE_IMAGE, {"w_id": image_id})

    def list_images(self, status: str | None = None) -> list[dict]:
        """Every image but those being deleted; or those of one status."""
        rows = self._rows(LIST_IMAGES_IN, {"w_status": status}) if status else self._rows(LIST_IMAGES)
        return [_image(r) for r in rows]

    # -- IP allocations ----------------------------------------------------------------
    def allocate_ip(self, network: str, uuid: str, candidates) -> str:
        with self.tx():
            taken = set(self._column(TAKEN_IPS, {"w_net": network}))
            for address in candidates:
                if address not in taken:
                    self._count(INSERT_IP, dict(network=network, address=address,
                                                instance_uuid=uuid, allocated_at=time.time()))
                    return address
        raise Conflict(f"No more IP addresses available on network {network}")

    def release_ips(self, uuid: str) -> None:
        self._count(RELEASE_IPS, {"w_uuid": uuid})

    # -- compute services --------------------------------------------------------------
    def heartbeat(self, host: str, pid: int | None, when: float | None = None) -> None:
        self._count(HEARTBEAT[self.dialect], {
            "v_host": host, "v_pid": pid, "v_at": time.time() if when is None else when})

    def services(self) -> dict[str, dict]:
        return {r["host"]: r for r in self._rows(LIST_SERVICES)}

    def set_service(self, host: str, **fields) -> None:
        self._count(ADD_SERVICE[self.dialect], {"v_host": host})
        self._count(UPDATE_SERVICE, {**fields, "w_host": host})
