"""The Compute API's actions over HTTP take the instance with no read before
(API.perform_taking_first): whatever the action and the instance's state, the outcome is
the read-first path's (API.perform_on): the same refusal, in the same words, with nothing
written; or the same take."""
from __future__ import annotations

import pytest

from core import states as S
from core.actions import ACTIONS
from core.errors import NovaError
from tests.conftest import act, launch

PARAMS = {"resize": {"flavor": "m1.tiny"},   # the same flavor: refused by its own check
          "migrate": {"host": "nowhere"}, "rebuild": {"image": "cirros"}}


def written(engine) -> tuple:
    """What a refused request must leave as it was: the instances, the action records, the
    queued messages."""
    store = engine.store
    return (sorted(map(str, store.list_instances())),
            sorted(str(a) for i in store.list_instances() for a in engine.actions(i["name"])),
            sorted(map(str, store.pending_messages())))


def read_first_refusal(engine, name: str, inst: dict) -> str | None:
    """What the read-first path refuses this with, from the instance as read (None: it
    would take it), without writing anything."""
    action = ACTIONS[name]
    refusal = action.refusal(inst)
    if refusal is not None:
        return refusal.message
    try:
        engine.submit(engine.api._params, action, inst, dict(PARAMS.get(name, {}))).result()
    except NovaError as e:
        return e.message
    return None


@pytest.fixture
def fleet(engine):
    launch(engine, "active")
    act(engine, "pause", launch(engine, "paused")["uuid"])
    act(engine, "stop", launch(engine, "stopped")["uuid"])
    act(engine, "lock", launch(engine, "locked")["uuid"])
    act(engine, "shelve", launch(engine, "shelved")["uuid"])
    # active, but with no launch recorded: what the actions Nova checks it for refuse
    engine.store.update_instance(launch(engine, "unlaunched")["uuid"], launched_at=None)
    return engine


def test_every_action_taken_first_refuses_as_when_read_first_and_writes_nothing(fleet):
    engine, refusals, taken = fleet, 0, 0
    for inst_name in ("active", "paused", "stopped", "locked", "shelved", "unlaunched"):
        for name, action in ACTIONS.items():
            if name == "create" or action.path == "api" or action.task_state == S.DELETING:
                continue
            inst = engine.instance(inst_name)
            expected = read_first_refusal(engine, name, inst)
            if expected is None:
                taken += 1
                continue   # it would act: the lifecycle tests do that, through HTTP too
            before = written(engine)
            try:
                got = engine.submit(engine.api.perform_taking_first, name, inst["uuid"],
                                    **PARAMS.get(name, {})).result()
            except NovaError as e:
                assert e.message == expected, (inst_name, name)
            else:
                assert got is None, (inst_name, name)   # then read first, and refused so
            assert written(engine) == before, (inst_name, name)
            refusals += 1
    assert refusals > 40 and taken > 10


def test_a_pause_taken_first_is_a_pause(fleet):
    engine = fleet
    uuid = engine.instance("active")["uuid"]
    req = engine.submit(engine.api.perform_taking_first, "pause", uuid).result()
    assert engine.wait(req, 30)["message"] is None
    assert engine.instance("active")["vm_state"] == S.PAUSED
    assert engine.submit(engine.api.perform_taking_first, "pause", "no-such-id").result() is None
