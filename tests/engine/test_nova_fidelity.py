"""Where novatui follows Nova's own code (issue 11): evacuate of a stuck instance, a second
delete, a down source refused, confirm without a task_state, a paused live migration's
status, idempotent locks, and _init_instance's retries of interrupted power tasks."""
from __future__ import annotations

import pytest

from core import states as S
from core.engine import Engine
from core.errors import Conflict, InvalidInput
from tests.conftest import act, computes_held, eventually, launch, log_text


def test_evacuate_takes_an_instance_stuck_in_any_task_state(engine):
    inst = launch(engine, "stuck")
    engine.store.update_instance(inst["uuid"], task_state=S.POWERING_OFF)  # its host died mid-stop
    engine.submit(engine.api.set_host, inst["host"], False, "dead", True).result()
    moved = act(engine, "evacuate", "stuck")
    assert (moved["vm_state"], moved["task_state"]) == ("active", None)
    assert moved["host"] != inst["host"]


def test_a_second_delete_is_ignored_while_the_host_deletes(engine, state_dir):
    inst = launch(engine, "twice")
    engine.store.update_instance(inst["uuid"], task_state=S.DELETING)
    req = engine.request("delete", "twice")
    assert req.done and engine.instance("twice")["task_state"] == S.DELETING
    assert "Instance is already in deleting state, ignoring this request" in log_text(state_dir, "n-api")
    engine.submit(engine.api.set_host, inst["host"], False, "dead", True).result()
    gone = act(engine, "delete", inst["uuid"])  # host down: deleted locally
    assert gone["vm_state"] == "deleted"


@pytest.mark.parametrize("action", ["migrate", "resize"])
def test_moves_need_the_source_service_up(engine, action):
    inst = launch(engine, "pinned")
    engine.submit(engine.api.set_host, inst["host"], False, "dead", True).result()
    with pytest.raises(Conflict, match="Service is unavailable at this time."):
        engine.request(action, "pinned", flavor="m1.small")
    assert engine.instance("pinned")["task_state"] is None


def test_confirm_sets_no_task_state_and_a_second_confirm_is_a_400(engine):
    launch(engine, "conf")
    act(engine, "migrate", "conf")
    with computes_held(engine):   # the first confirm stays queued
        req = engine.request("confirm_resize", "conf")
        after_take = engine.instance("conf")
        assert after_take["task_state"] is None
        with pytest.raises(InvalidInput, match="Instance has not been resized."):
            engine.request("confirm_resize", "conf")
    engine.wait(req, 10)
    assert engine.instance("conf")["vm_state"] == "active"


def test_status_of_a_paused_instance_being_live_migrated():
    assert S.api_status(S.PAUSED, S.MIGRATING) == "MIGRATING"


def test_lock_and_unlock_are_idempotent(engine):
    launch(engine, "lk")
    for action, locked in (("lock", True), ("lock", True), ("unlock", False), ("unlock", False)):
        assert engine.request(action, "lk").done
        assert engine.instance("lk")["locked"] is locked


@pytest.mark.parametrize("task,end", [(S.POWERING_OFF, ("stopped", S.SHUTDOWN)),
                                      (S.REBOOT_PENDING, ("active", S.RUNNING)),
                                      (S.REBOOT_STARTED, ("active", S.RUNNING)),
                                      (S.PAUSING, ("active", S.RUNNING))])
def test_init_instance_retries_or_clears_interrupted_power_tasks(config, state_dir, task, end):
    with Engine(config, state_dir) as eng:
        inst = launch(eng, "cut")
    eng.store.start_action(inst["uuid"], "x", "req-cut")
    eng.store.update_instance(inst["uuid"], task_state=task)  # and no step left anywhere
    with Engine(config, state_dir) as eng:
        assert eng.wait("req-cut", 10)["finish_time"] is not None
        after = eng.instance("cut")
        assert (after["vm_state"], after["power_state"], after["task_state"]) == (*end, None)


def test_init_instance_retries_an_interrupted_start(config, state_dir):
    with Engine(config, state_dir) as eng:
        launch(eng, "cut")
        inst = act(eng, "stop", "cut")
    eng.store.start_action(inst["uuid"], "start", "req-on")
    eng.store.update_instance(inst["uuid"], task_state=S.POWERING_ON)
    with Engine(config, state_dir) as eng:
        eng.wait("req-on", 10)
        assert (eng.instance("cut")["vm_state"], eng.instance("cut")["power_state"]) == ("active", S.RUNNING)


def test_init_instance_puts_an_interrupted_rebuild_in_error(config, state_dir):
    with Engine(config, state_dir) as eng:
        inst = launch(eng, "cut")
    eng.store.update_instance(inst["uuid"], task_state=S.REBUILD_SPAWNING)
    with Engine(config, state_dir) as eng:
        assert (eng.instance("cut")["vm_state"], eng.instance("cut")["task_state"]) == ("error", None)


def test_a_failed_reboot_of_a_running_guest_is_no_failure(engine, monkeypatch):
    inst = launch(engine, "rb")
    driver = engine.computes[inst["host"]].driver

    def refuse(uuid, timeout):  # the hypervisor refuses the reboot; the guest runs on
        raise RuntimeError("reboot refused")
    monkeypatch.setattr(driver, "soft_reboot", refuse)
    req = engine.request("reboot", "rb")
    assert engine.wait(req, 10)["message"] is None  # the event is Success
    assert engine.instance("rb")["vm_state"] == "active"
    assert "reboot refused" in engine.fault(inst["uuid"])["message"]


@pytest.mark.parametrize("action,params,line", [
    ("stop", {}, '''Action: 'os-stop', calling method: stop, body: {"os-stop": null}'''),
    ("reboot_hard", {}, '''Action: 'reboot', calling method: reboot_hard, body: {"reboot": {"type": "HARD"}}'''),
    ("reboot", {}, '''Action: 'reboot', calling method: reboot, body: {"reboot": {"type": "SOFT"}}'''),
    ("resize", {"flavor": "m1.small"},
     '''Action: 'resize', calling method: resize, body: {"resize": {"flavorRef": "m1.small"}}'''),
    ("snapshot", {"name": "snap1"},
     '''Action: 'createImage', calling method: snapshot, body: {"createImage": {"name": "snap1"}}'''),
])
def test_the_api_debug_line_names_novas_action_and_body(engine, state_dir, action, params, line):
    launch(engine, "dbg")
    engine.request(action, "dbg", **params)
    assert line in log_text(state_dir, "n-api")


def _lines(state_dir, uuid: str) -> list[str]:
    """The n-cpu messages of one instance, in order, without the line's head."""
    tag = f"[instance: {uuid}] "
    return [ln.split(tag, 1)[1] for ln in log_text(state_dir, "n-cpu").splitlines() if tag in ln]


def _in_order(lines: list[str], expected: list[str]) -> bool:
    it = iter(lines)
    return all(any(line.startswith(want) for line in it) for want in expected)


def test_n_cpu_lines_follow_novas_order_and_words(engine, state_dir):
    inst = launch(engine, "words")
    for action in ("pause", "unpause", "stop", "start", "suspend", "resume"):
        act(engine, action, "words")
    moved = act(engine, "migrate", "words")
    act(engine, "delete", "words")
    lines = _lines(state_dir, inst["uuid"])
    assert _in_order(lines, ["Starting instance...", "Claim successful on node",
                             "Start building networks asynchronously for instance.",
                             "Start building block device mappings for instance.",
                             "Start spawning the instance on the hypervisor.",
                             "Creating image(s)", "Guest created on hypervisor",
                             "Instance spawned successfully.", "Took", "Pausing", "Unpausing",
                             "Instance shutdown successfully", "Instance rebooted successfully.",
                             "Resuming", "Migrating", "Terminating instance",
                             "Instance destroyed successfully.", "Deleting instance files",
                             "Deletion of", "Took", "Took"]), lines
    assert not any(line.startswith(("Suspending", "Powering on")) for line in lines)
    assert moved["vm_state"] == "resized"
    terminate = lines[next(i for i, ln in enumerate(lines) if ln == "Terminating instance"):]
    assert [ln.split(" ")[0] for ln in terminate[:7]] == ["Terminating", "Start", "Instance",
                                                           "Deleting", "Deletion", "Took", "Took"], terminate


def test_a_preempted_task_is_info_and_an_evacuated_guest_is_destroyed_in_novas_words(engine, state_dir):
    inst = launch(engine, "ev")
    engine.submit(engine.api.set_host, inst["host"], False, "dead", True).result()
    act(engine, "evacuate", "ev")
    eventually(lambda: "Destroying instance as it has been evacuated from this host"
               in log_text(state_dir, "n-cpu"), 5)
    evacuated = _lines(state_dir, inst["uuid"])
    assert _in_order(evacuated, ["Evacuating instance", "Creating image(s)",
                                 "Instance spawned successfully.",
                                 "Destroying instance as it has been evacuated"]), evacuated
    text = log_text(state_dir, "n-cpu")
    assert "WARNING nova.compute.manager" not in "".join(
        ln for ln in text.splitlines() if "Task possibly preempted" in ln)


def test_the_context_carries_novas_six_field_user_identity(engine, state_dir):
    from core.logs import parse_line
    launch(engine, "who")
    line = next(ln for ln in log_text(state_dir, "n-cpu").splitlines() if "Claim successful" in ln)
    assert " admin admin - - default default] [instance: " in line
    assert parse_line("n-cpu", line).request_id.startswith("req-")
    old = line.replace(" - - default default]", "]")  # files written before keep parsing
    assert parse_line("n-cpu", old).request_id == parse_line("n-cpu", line).request_id


def test_evacuate_with_target_state_stopped_leaves_the_instance_stopped_unless_in_error(engine):
    """Microversion 2.95 (the HTTP API passes target_state): ACTIVE arrives STOPPED, an
    ERROR instance still comes back ACTIVE, as in Nova's _do_rebuild_instance."""
    running, broken = launch(engine, "ev95"), launch(engine, "ev95err")
    engine.store.update_instance(broken["uuid"], vm_state=S.ERROR)
    for inst in (running, broken):
        engine.submit(engine.api.set_host, inst["host"], False, "dead", True).result()
    stopped = act(engine, "evacuate", "ev95", target_state=S.STOPPED)
    assert (stopped["vm_state"], stopped["task_state"]) == (S.STOPPED, None)
    assert "evacuate_target_state" not in stopped["sys_meta"]
    revived = act(engine, "evacuate", "ev95err", target_state=S.STOPPED)
    assert revived["vm_state"] == S.ACTIVE
    with pytest.raises(InvalidInput, match="Invalid target state 'paused'"):
        engine.request("evacuate", "ev95", target_state="paused")
