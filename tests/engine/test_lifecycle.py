"""Every operation of the core issue through the real libvirt test driver, across the three
simulated hosts: libvirt's domain state, the store and the log lines after each."""
from __future__ import annotations

import libvirt
import pytest

from core import states as S
from core.actions import ACTIONS
from core.errors import InstanceInvalidState, InstanceIsLocked, NotFound
from core.events import HostChanged
from core.engine import Engine
from tests.conftest import act, domain, eventually, launch, log_text, make_config

RUNNING = libvirt.VIR_DOMAIN_RUNNING
PAUSED = libvirt.VIR_DOMAIN_PAUSED
SHUTOFF = libvirt.VIR_DOMAIN_SHUTOFF


def test_launch_schedules_by_free_ram_and_spawns(engine, state_dir):
    first = launch(engine, "web1")
    assert first["host"] == "cmp3"  # the most free RAM (RAMWeigher)
    assert (first["vm_state"], first["task_state"], first["power_state"]) == ("active", None, S.RUNNING)
    assert first["ip"] == "10.0.0.2" and first["launched_at"]
    assert domain(engine, first).state()[0] == RUNNING
    disk = state_dir / "hosts" / "cmp3" / "instances" / first["uuid"] / "disk"
    assert disk.read_bytes().startswith(b"novatui image cirros")

    in_az1 = launch(engine, "web2", az="az1")
    assert in_az1["host"] == "cmp2" and in_az1["ip"] == "10.0.0.3"

    cpu, sch, api = (log_text(state_dir, s) for s in ("n-cpu", "n-sch", "n-api"))
    assert f"[instance: {first['uuid']}] Instance spawned successfully." in cpu
    assert "Claim successful on node cmp3" in cpu
    assert "Took " in cpu and "seconds to build instance." in cpu
    assert "Filter AvailabilityZoneFilter returned 2 host(s)" in sch
    assert "Selected host: WeighedHost [host: (cmp2, cmp2)" in sch
    assert "Action: 'create', calling method: create" in api  # the access line is HTTP's
    actions = engine.actions("web1")
    assert [(a["action"], a["message"]) for a in actions] == [("create", None)]
    assert [e["event"] for e in actions[0]["events"]] == [
        "conductor_schedule_and_build_instances", "compute__do_build_and_run_instance"]


# (action, vm_state after, power_state after, libvirt state after, a line n-cpu writes)
SEQUENCE = [
    ("pause", "paused", S.PAUSED_POWER, PAUSED, "Pausing"),
    ("unpause", "active", S.RUNNING, RUNNING, "Unpausing"),
    ("suspend", "suspended", S.SHUTDOWN, SHUTOFF, None),  # Nova logs nothing of its own
    ("resume", "active", S.RUNNING, RUNNING, "Resuming"),
    ("stop", "stopped", S.SHUTDOWN, SHUTOFF, "Instance shutdown successfully after 0 seconds."),
    ("start", "active", S.RUNNING, RUNNING, "Instance rebooted successfully."),  # power_on is a hard reboot
    ("reboot", "active", S.RUNNING, RUNNING, "Instance soft rebooted successfully."),
    ("reboot_hard", "active", S.RUNNING, RUNNING, "Instance rebooted successfully."),
    ("suspend", "suspended", S.SHUTDOWN, SHUTOFF, None),  # Nova logs nothing of its own
    ("reboot_hard", "active", S.RUNNING, RUNNING, "Instance rebooted successfully."),
]


def test_each_operation_reaches_its_state_in_libvirt_and_store(engine, state_dir):
    inst = launch(engine, "vm")
    for action, vm_state, power, libvirt_state, line in SEQUENCE:
        inst = act(engine, action, "vm")
        assert (inst["vm_state"], inst["task_state"], inst["power_state"]) == (vm_state, None, power), action
        dom = domain(engine, inst)
        assert dom.state()[0] == libvirt_state, action
        assert bool(dom.hasManagedSaveImage(0)) == (vm_state == "suspended"), action
        assert line is None or f"[instance: {inst['uuid']}] {line}" in log_text(state_dir, "n-cpu"), action
    history = [a["action"] for a in engine.actions("vm")]
    assert history == ["create"] + [ACTIONS[a].instance_action for a, *_ in SEQUENCE]
    assert all(a["message"] is None for a in engine.actions("vm"))


def _put_in(engine, name: str, state: str) -> dict:
    inst = launch(engine, name)
    path = {"active": [], "paused": ["pause"], "suspended": ["suspend"], "stopped": ["stop"]}[state]
    for action in path:
        inst = act(engine, action, name)
    assert inst["vm_state"] == state
    return inst


@pytest.mark.parametrize("state", ["active", "paused", "suspended", "stopped"])
def test_actions_the_table_forbids_change_nothing(engine, state_dir, state):
    inst = _put_in(engine, f"vm-{state}", state)
    actions_before = len(engine.actions(inst["uuid"]))
    for name, action in ACTIONS.items():
        if name == "create" or action.allowed(inst):
            continue
        with pytest.raises(InstanceInvalidState) as err:
            engine.request(name, inst["uuid"])
        assert f"Cannot '{action.nova_name}' instance {inst['uuid']} while it is in vm_state {state}" == str(err.value) \
            or name in ("unlock",), str(err.value)
        after = engine.store.get_instance(inst["uuid"])
        assert (after["vm_state"], after["task_state"], after["locked"]) == (state, None, False)
    assert len(engine.actions(inst["uuid"])) == actions_before


def test_a_locked_instance_refuses_lock_checked_actions_until_unlocked(engine):
    inst = launch(engine, "locked")
    assert act(engine, "lock", "locked")["locked"] is True
    for name in ("stop", "pause", "suspend", "reboot", "reboot_hard", "delete", "force_delete"):
        with pytest.raises(InstanceIsLocked, match=f"Instance {inst['uuid']} is locked"):
            engine.request(name, "locked")
    assert engine.store.get_instance(inst["uuid"])["vm_state"] == "active"
    assert act(engine, "unlock", "locked")["locked"] is False
    assert act(engine, "pause", "locked")["vm_state"] == "paused"
    assert [a["action"] for a in engine.actions("locked")] == ["create", "lock", "unlock", "pause"]
    assert engine.actions("locked")[1]["events"][0]["event"] == "api_lock"


@pytest.mark.parametrize("action", ["delete", "force_delete"])
def test_terminate_frees_disk_ip_and_host(engine, state_dir, action):
    inst = _put_in(engine, "doomed", "paused")
    host = inst["host"]
    assert engine.hosts()[2]["instances"] == 1
    done = act(engine, action, "doomed")
    assert done["vm_state"] == "deleted" and done["deleted_at"] and done["task_state"] is None
    with pytest.raises(libvirt.libvirtError):
        engine.computes[host].driver.conn.lookupByUUIDString(inst["uuid"])
    assert not (state_dir / "hosts" / host / "instances" / inst["uuid"]).exists()
    assert engine.store.conn.execute("SELECT COUNT(*) FROM ip_allocations").fetchone()[0] == 0
    view = {h["name"]: h for h in engine.hosts()}[host]
    assert (view["instances"], view["vcpus_used"], view["memory_mb_used"]) == (0, 0, 0)
    with pytest.raises(NotFound):
        engine.instance("doomed")
    cpu = log_text(state_dir, "n-cpu")
    assert "Terminating instance" in cpu and f"Deletion of {state_dir}" in cpu
    # the address is handed out again
    assert launch(engine, "next")["ip"] == "10.0.0.2"


def test_no_valid_host_leaves_error_with_fault(engine, state_dir):
    # az2 is cmp3 alone: 800 GB of disk holds five m1.xlarge (160 GB) and no sixth.
    for i in range(5):
        assert launch(engine, f"big{i}", "m1.xlarge", az="az2")["vm_state"] == "active"
    failed = launch(engine, "big5", "m1.xlarge", az="az2")
    assert (failed["vm_state"], failed["task_state"], failed["host"]) == ("error", None, None)
    fault = engine.fault(failed["uuid"])
    assert fault["message"] == "No valid host was found. There are not enough hosts available."
    assert engine.actions("big5")[0]["message"] == "Error"
    sch = log_text(state_dir, "n-sch")
    assert "Filter DiskFilter returned 0 hosts" in sch
    assert "DiskFilter: (start: 1, end: 0)" in sch
    assert "Setting instance to ERROR state." in sch


def test_a_failing_libvirt_call_reverts_task_state_and_records_a_fault(tmp_path, state_dir):
    quiet = make_config(tmp_path, sync=3600, replace={
        "handle_lifecycle_events = true": "handle_lifecycle_events = false"})
    with Engine(quiet, state_dir) as engine:
        _failing_pause(engine, state_dir)


def test_the_event_of_its_own_step_is_taken_as_read_and_the_next_one_is_synced(tmp_path,
                                                                                state_dir):
    """A step's own lifecycle event is not synced (the step committed that very power
    state: no read, no libvirt call), but a change made behind the engine's back right after
    is: its event finds the store out of date and corrects it (no periodic sync here)."""
    with Engine(make_config(tmp_path, sync=3600), state_dir) as engine:
        inst = act(engine, "pause", launch(engine, "ev")["name"])
        compute = engine.computes[inst["host"]]
        assert inst["power_state"] == S.PAUSED_POWER
        paused = f"[instance: {inst['uuid']}] VM Paused (Lifecycle Event)"
        assert eventually(lambda: paused in log_text(state_dir, "n-cpu"))
        assert inst["uuid"] not in compute.committed_power   # the event took it
        assert "does not match the vm_power_state" not in log_text(state_dir, "n-cpu")
        domain(engine, inst).resume()   # behind the engine's back
        assert eventually(lambda: engine.store.get_instance(inst["uuid"])["power_state"] == S.RUNNING)
        cpu = log_text(state_dir, "n-cpu")
        assert f"[instance: {inst['uuid']}] VM Resumed (Lifecycle Event)" in cpu
        assert "the DB power_state (3) does not match the vm_power_state from the hypervisor (1)" in cpu


def _failing_pause(engine, state_dir):
    inst = launch(engine, "flaky")
    domain(engine, inst).destroy()  # off behind the engine's back, unseen: libvirt refuses a pause
    engine.computes[inst["host"]].driver.save()
    req = engine.request("pause", "flaky")
    action = engine.wait(req, 10)
    after = engine.store.get_instance(inst["uuid"])
    assert action["message"] == "Error"
    assert after["task_state"] is None and after["vm_state"] == "active"  # Nova: vm_state unchanged
    fault = engine.fault(inst["uuid"])
    assert fault["code"] == 500 and "libvirt suspend failed" in fault["message"]
    assert fault["request_id"] == req.request_id and fault["host"] == inst["host"]
    events = engine.actions("flaky")[-1]["events"]
    assert events[-1]["result"] == "Error"
    assert "Successfully reverted task state from pausing on failure for instance." in log_text(state_dir, "n-cpu")


def test_suspend_failure_sets_error_as_nova_does(engine, state_dir):
    inst = launch(engine, "sus")
    domain(engine, inst).undefine()  # now transient: libvirt refuses a managed save
    req = engine.request("suspend", "sus")
    assert engine.wait(req, 10)["message"] == "Error"
    after = engine.store.get_instance(inst["uuid"])
    assert (after["vm_state"], after["task_state"]) == ("error", None)
    assert "managedSave" in engine.fault(inst["uuid"])["message"]
    # ERROR still allows delete, which cleans up whatever is left
    assert act(engine, "delete", "sus")["vm_state"] == "deleted"
    assert not (state_dir / "hosts" / inst["host"] / "instances" / inst["uuid"]).exists()


def test_failed_build_is_rescheduled_to_another_host(engine, state_dir):
    broken = state_dir / "hosts" / "cmp3" / "instances"
    broken.rmdir() if broken.exists() else None
    broken.write_text("not a directory")  # cmp3 cannot create instance disks
    inst = launch(engine, "resched")
    assert inst["vm_state"] == "active" and inst["host"] == "cmp2"
    assert f"Build of instance {inst['uuid']} was re-scheduled" in log_text(state_dir, "n-cpu")
    assert "Host cmp3 fails.  Previously tried hosts: ['cmp3']" in log_text(state_dir, "n-sch")
    assert engine.computes["cmp3"].driver.conn.listAllDomains() == []


def test_build_fails_for_good_after_max_attempts(engine, state_dir):
    for host in ("cmp1", "cmp2", "cmp3"):
        path = state_dir / "hosts" / host / "instances"
        if path.exists():
            path.rmdir()
        path.write_text("not a directory")
    inst = launch(engine, "doomed")
    assert (inst["vm_state"], inst["task_state"], inst["host"], inst["ip"]) == ("error", None, None, None)
    assert engine.fault(inst["uuid"])["message"]
    assert engine.store.conn.execute("SELECT COUNT(*) FROM ip_allocations").fetchone()[0] == 0
    assert all(c.driver.conn.listAllDomains() == [] for c in engine.computes.values())


def test_a_host_view_is_read_again_only_when_an_instance_change_can_change_it(engine,
                                                                             monkeypatch):
    """A pause or a reboot keeps its host's usage: the host's view is not read again for
    it (a script's burst of them made the hosts' views be read ten times a second); a
    launch, a resize and a delete change usage, and their host's view is; so is the view
    of the host a resize left, once it is confirmed (that host is not in the record)."""
    dirtied: list[str] = []
    real = engine._emit_host
    monkeypatch.setattr(engine, "_emit_host", lambda name: (dirtied.append(name), real(name)))
    views: list[dict] = []
    engine.subscribe(lambda e: views.append(e.host) if isinstance(e, HostChanged) else None)
    inst = launch(engine, "usage")
    assert inst["host"] in dirtied
    for action in ("pause", "unpause", "reboot", "stop", "start"):
        dirtied.clear()
        act(engine, action, "usage")
        assert dirtied == [], action
    dirtied.clear()
    act(engine, "resize", "usage", flavor="m1.small")
    assert inst["host"] in dirtied or engine.store.get_instance(inst["uuid"])["host"] in dirtied
    act(engine, "confirm_resize", "usage")
    moved_to = engine.store.get_instance(inst["uuid"])["host"]
    if moved_to != inst["host"]:   # the source's view drops the instance and the move's claim
        assert eventually(lambda: any(v["name"] == inst["host"] and v["instances"] == 0
                                      and v["vcpus_used"] == 0 for v in views))
    dirtied.clear()
    act(engine, "delete", "usage")
    assert dirtied
    assert eventually(lambda: any(v["name"] == inst["host"] and v["instances"] == 0
                                  for v in views))


def test_a_host_view_whose_read_fails_is_read_again(engine, monkeypatch):
    """A read of a host's view that fails (the store busy under load) is not the end of
    it: the host stays stale and is read again, so its row still comes to show the
    change, with no later change to prompt it."""
    from core import engine_events
    real = engine_events.host_views
    failures: list[int] = []
    store_busy = True

    def busy_until_told(*args, **kwargs):
        if store_busy:
            failures.append(1)
            raise RuntimeError("database is locked")
        return real(*args, **kwargs)

    views: list[dict] = []
    engine.subscribe(lambda e: views.append(e.host) if isinstance(e, HostChanged) else None)
    monkeypatch.setattr(engine_events, "host_views", busy_until_told)
    engine._emit_host("cmp1")   # as a change on cmp1 does
    assert eventually(lambda: failures)
    store_busy = False
    assert eventually(lambda: any(v["name"] == "cmp1" for v in views))
