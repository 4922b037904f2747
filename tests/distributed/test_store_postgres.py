"""The Store on PostgreSQL (the `services` fixture's database): every method works there,
and two Store objects (two engines, as two API services) racing on one instance accept
exactly one of two conflicting changes, 100 times out of 100.

The tests run in a schema of their own in that database (made here, dropped at the end), so
that the rows they make are not seen by the tier's services."""
from __future__ import annotations

import threading
import time
import uuid as uuidlib

import pytest
from sqlalchemy import create_engine, text

from core.errors import UnexpectedTaskState
from core.store import Store
from tests.distributed.conftest import private_schema

TRIES = 100


@pytest.fixture(scope="module")
def pg_url(services):
    with private_schema(services, "store_test") as url:
        yield url


@pytest.fixture
def stores(pg_url):
    opened = [Store(pg_url), Store(pg_url)]
    yield opened
    for s in opened:
        s.close()


def _instance(store, vm_state="active") -> str:
    uuid = str(uuidlib.uuid4())
    store.create_instance(dict(uuid=uuid, name=f"vm-{uuid[:8]}", flavor="m1.tiny", vcpus=1,
                               memory_mb=512, root_gb=1, vm_state=vm_state, host="h1",
                               created_at=time.time(), sys_meta={"k": "v"}, locked=False))
    return uuid


def _race(first, second):
    """Run two calls at once, each in its own thread (and so on its own connection)."""
    barrier = threading.Barrier(2)
    results: list = [None, None]
    errors: list = []

    def run(i, fn):
        try:
            barrier.wait(5)
            results[i] = fn()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return results


def test_schema_is_migrated_to_head(pg_url, stores):
    from core.migrations import HEAD

    with create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1)).connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    assert Store(pg_url).list_instances() is not None  # a second open does not migrate again


def test_store_methods_on_postgresql(stores):
    s = stores[0]
    uuid = _instance(s)
    inst = s.get_instance(uuid)
    assert inst["sys_meta"] == {"k": "v"} and inst["locked"] is False
    assert [i["uuid"] for i in s.find_instances(inst["name"])] == [uuid]
    assert uuid in [i["uuid"] for i in s.list_instances("h1")]
    assert uuid in [i["uuid"] for i in s.changed_since(inst["updated_at"] - 1)]
    assert s.begin_task(uuid, ["active"], [None], True, "pausing")["task_state"] == "pausing"
    assert s.begin_task(uuid, ["active"], [None], True, "pausing") is None
    with pytest.raises(UnexpectedTaskState):
        s.update_instance(uuid, expected_task_state=None, vm_state="paused")
    inst = s.update_instance(uuid, expected_task_state="pausing", vm_state="paused", task_state=None)
    assert inst["vm_state"] == "paused" and inst["task_state"] is None
    assert s.set_locked(uuid, True) and not s.set_locked(uuid, True)
    assert s.get_instance(uuid)["locked"] is True
    assert s.host_usage("h1")["h1"]["vcpus"] >= 1

    request = f"req-{uuid}"
    action_id = s.start_action(uuid, "pause", request)
    event = s.start_event(request, "compute_pause_instance", "h1")
    assert event is not None and s.start_event("req-none", "x", None) is None
    s.finish_event(event, "Success")
    assert s.open_request(uuid) == request
    s.finish_action(request, error=True)
    assert s.open_request(uuid) is None
    [action] = s.list_actions(uuid)
    assert action["id"] == action_id and action["message"] == "Error"
    assert action["events"][0]["result"] == "Success"
    s.add_fault(uuid, 500, "boom", None, "h1", request)
    assert s.last_fault(uuid)["message"] == "boom"

    topic = f"compute.{uuid}"
    mid = s.put_message(topic, {"method": "x", "args": {"uuid": uuid}})
    assert not s.put_message_unless_queued(topic, {"method": "y", "args": {"uuid": uuid}}, uuid)
    assert s.claim_message(topic, "me") == (mid, {"method": "x", "args": {"uuid": uuid}})
    assert s.claim_message(topic, "me") is None
    assert [m["id"] for m in s.messages_for(uuid)] == [mid]
    assert s.requeue_claims(topic, lambda owner: False) == 1
    assert s.pending_messages(topic)[0]["claimed_by"] is None
    s.delete_message(mid)
    assert s.put_message_unless_queued(topic, {"method": "y", "args": {"uuid": uuid}}, uuid)

    mig = s.create_migration(dict(instance_uuid=uuid, migration_type="resize", status="finished",
                                  source_host="h1", dest_host="h2", held_host="h2", held_vcpus=1))
    assert s.active_migration(uuid)["id"] == mig
    assert s.finished_migrations("h2", time.time() + 1)[0]["id"] == mig
    assert s.take_migration(uuid, "confirming") == mig and s.take_migration(uuid, "confirming") is None
    assert s.migrations_in("confirming", "h1")[0]["id"] == mig
    assert s.update_migration(mig, expected_status=("confirming",), status="confirmed")
    assert not s.update_migration(mig, expected_status="confirming", status="error")
    assert s.list_migrations(uuid)[0]["status"] == "confirmed"

    network = f"net-{uuid[:8]}"
    assert s.allocate_ip(network, uuid, ["10.0.0.2", "10.0.0.3"]) == "10.0.0.2"
    assert s.allocate_ip(network, uuid, ["10.0.0.2", "10.0.0.3"]) == "10.0.0.3"
    s.release_ips(uuid)

    image = f"img-{uuid}"
    s.add_image(dict(id=image, name=image, disk_format="raw", size=1, checksum="c", path="/x",
                     created_at=time.time(), properties={"os": "cirros"}))
    assert s.find_images(image)[0]["properties"] == {"os": "cirros"}
    s.update_image(image, status="deleting")
    assert s.find_images(image) == [] and s.list_images("deleting")[0]["id"] == image
    s.delete_image(image)
    assert s.get_image(image) is None

    host = f"h-{uuid[:8]}"
    s.heartbeat(host, 1)
    s.heartbeat(host, 2)
    s.set_service(host, disabled=True, disabled_reason="test")
    assert s.services()[host]["pid"] == 2 and s.services()[host]["disabled"] == 1


def test_tx_commits_together_and_rolls_back_together(stores):
    s, other = stores
    uuid = _instance(s)
    with pytest.raises(RuntimeError):
        with s.tx():
            s.update_instance(uuid, task_state="x")
            with s.tx():  # joins the outer one
                s.put_message(f"t.{uuid}", {"args": {"uuid": uuid}})
            raise RuntimeError
    assert other.get_instance(uuid)["task_state"] is None and other.messages_for(uuid) == []
    with s.tx():
        s.update_instance(uuid, task_state="y")
        assert other.get_instance(uuid)["task_state"] is None  # not before the commit
    assert other.get_instance(uuid)["task_state"] == "y"


def test_read_only_store_cannot_write(pg_url, stores):
    uuid = _instance(stores[0])
    ro = Store(pg_url, read_only=True)
    try:
        assert ro.get_instance(uuid)["uuid"] == uuid
        with pytest.raises(Exception, match="read-only"):
            ro.update_instance(uuid, task_state="x")
    finally:
        ro.close()


@pytest.mark.parametrize("in_tx", [False, True], ids=["statement", "in-tx"])
def test_two_services_begin_task_exactly_one(stores, in_tx):
    """Two API services take one instance for conflicting actions at the same time."""
    a, b = stores
    accepted = []
    for _ in range(TRIES):
        uuid = _instance(a)

        def take(store, task):
            def run():
                if in_tx:
                    with store.tx():
                        return store.begin_task(uuid, ["active"], [None], True, task)
                return store.begin_task(uuid, ["active"], [None], True, task)
            return run

        results = _race(take(a, "pausing"), take(b, "powering-off"))
        winners = [r for r in results if r is not None]
        accepted.append(len(winners))
        assert a.get_instance(uuid)["task_state"] == winners[0]["task_state"]
    assert accepted == [1] * TRIES


def test_two_services_update_migration_exactly_one(stores):
    a, b = stores
    uuid = _instance(a)
    accepted = []
    for _ in range(TRIES):
        mig = a.create_migration(dict(instance_uuid=uuid, migration_type="migration",
                                      status="finished", source_host="h1", dest_host="h2"))
        results = _race(lambda: a.update_migration(mig, expected_status="finished", status="confirming"),
                        lambda: b.update_migration(mig, expected_status=("finished",), status="reverting"))
        accepted.append(results.count(True))
    assert accepted == [1] * TRIES


def test_two_consumers_claim_each_message_once(stores):
    a, b = stores
    topic = f"compute.race-{uuidlib.uuid4().hex[:8]}"
    ids = {a.put_message(topic, {"args": {"n": n}}) for n in range(TRIES)}

    def drain(store, owner):
        def run():
            got = []
            while (m := store.claim_message(topic, owner)) is not None:
                got.append(m[0])
            return got
        return run

    first, second = _race(drain(a, "a"), drain(b, "b"))
    assert sorted(first + second) == sorted(ids)
