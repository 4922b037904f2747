"""Restarts, shared stores and host ownership: nothing is lost, nothing is done twice."""
from __future__ import annotations

import hashlib
import threading

import libvirt
import pytest

from core import states as S
from core.engine import Engine
from core.errors import HostOwned, InstanceInvalidState
from tests.conftest import act, computes_held, domain, eventually, launch, launch_on, log_text


def _disk_sha(state_dir, inst):
    path = state_dir / "hosts" / inst["host"] / "instances" / inst["uuid"] / "disk"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_restart_mid_scenario_finds_every_instance_state_and_disk(config, state_dir):
    eng = Engine(config, state_dir).start()
    states = {"a": [], "p": ["pause"], "s": ["suspend"], "o": ["stop"], "l": ["lock"]}
    for name, path in states.items():
        launch(eng, name)
        for action in path:
            act(eng, action, name)
    before = {i["uuid"]: i for i in eng.instances()}
    disks = {u: _disk_sha(state_dir, i) for u, i in before.items()}
    libvirt_before = {u: domain(eng, i).state()[0] for u, i in before.items()}
    eng.stop()

    eng = Engine(config, state_dir).start()
    try:
        after = {i["uuid"]: i for i in eng.instances()}
        assert after.keys() == before.keys()
        for uuid, inst in after.items():
            keep = ("vm_state", "task_state", "power_state", "host", "ip", "locked", "flavor")
            assert {k: inst[k] for k in keep} == {k: before[uuid][k] for k in keep}
            assert _disk_sha(state_dir, inst) == disks[uuid]
            dom = domain(eng, inst)
            assert dom.state()[0] == libvirt_before[uuid]
            assert dom.hasManagedSaveImage(0) == (inst["vm_state"] == "suspended")
        # the restored guests still work: the suspended one resumes from its saved state
        assert act(eng, "resume", "s")["power_state"] == S.RUNNING
        assert act(eng, "unpause", "p")["vm_state"] == "active"
        assert act(eng, "start", "o")["vm_state"] == "active"
    finally:
        eng.stop()


def test_a_second_process_cannot_own_the_same_hosts(config, state_dir):
    import os
    with Engine(config, state_dir):
        with pytest.raises(HostOwned, match=rf"host cmp1 is in use by another novatui process \(pid {os.getpid()}\)"):
            Engine(config, state_dir).start()


def test_two_engines_on_one_store_accept_exactly_one_of_two_conflicting_actions(config, state_dir):
    owner = Engine(config, state_dir).start()
    client = Engine(config, state_dir, own="none").start()  # a second console on the same store
    try:
        for round_, pair in enumerate((("pause", "pause"), ("pause", "stop"), ("suspend", "reboot"))):
            inst = launch(owner, f"vm{round_}")
            barrier = threading.Barrier(2)
            results = {}

            def attempt(eng, action, key):
                barrier.wait()
                try:
                    results[key] = eng.request(action, inst["uuid"])
                except InstanceInvalidState as e:
                    results[key] = e

            threads = [threading.Thread(target=attempt, args=(e, a, k)) for e, a, k in
                       ((owner, pair[0], "owner"), (client, pair[1], "client"))]
            with computes_held(owner):   # the winner cannot finish before the loser is answered
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            accepted = [r for r in results.values() if not isinstance(r, Exception)]
            refused = [r for r in results.values() if isinstance(r, Exception)]
            assert len(accepted) == 1 and len(refused) == 1, results
            assert f"instance {inst['uuid']} while it is in" in str(refused[0])
            # whichever console took it, the host's owner does the work and it finishes
            done = owner.wait(accepted[0], 10)
            assert done["message"] is None
            assert owner.store.get_instance(inst["uuid"])["task_state"] is None
    finally:
        client.stop()
        owner.stop()


def test_work_submitted_before_a_stop_is_done_at_the_next_start(config, state_dir):
    eng = Engine(config, state_dir).start()
    inst = launch(eng, "later")
    eng.stop()
    client = Engine(config, state_dir, own="none").start()  # nobody serves the hosts now
    req = client.request("pause", "later")
    assert client.store.get_instance(inst["uuid"])["task_state"] == "pausing"
    client.stop()
    eng = Engine(config, state_dir).start()
    try:
        assert eng.wait(req, 10)["message"] is None
        after = eng.store.get_instance(inst["uuid"])
        assert (after["vm_state"], after["task_state"]) == ("paused", None)
        assert domain(eng, after).state()[0] == libvirt.VIR_DOMAIN_PAUSED
    finally:
        eng.stop()


def _left_pausing(config, state_dir, name: str, rid: str, claimed_by: str | None) -> dict:
    """What a crash mid-pause leaves: the task_state set, and the step claimed by a dead
    owner (or, with claimed_by None, no step anywhere)."""
    eng = Engine(config, state_dir).start()
    inst = launch(eng, name)
    eng.stop()
    eng.store.start_action(inst["uuid"], "pause", rid)
    eng.store.update_instance(inst["uuid"], task_state="pausing")
    if claimed_by is not None:
        eng.store.put_message(f"compute.{inst['host']}", {"method": "pause", "request_id": rid,
                                                          "args": {"uuid": inst["uuid"]}})
        eng.store.conn.execute("UPDATE messages SET claimed_by=?", (claimed_by,))
    return inst


def test_a_step_interrupted_by_a_crash_runs_again_at_start(config, state_dir):
    inst = _left_pausing(config, state_dir, "crashy", "req-x", "999999-dead")
    with Engine(config, state_dir) as eng:
        assert eng.wait("req-x", 10)["message"] is None
        after = eng.store.get_instance(inst["uuid"])
        assert (after["vm_state"], after["task_state"], after["power_state"]) == ("paused", None, S.PAUSED_POWER)
        assert eng.store.pending_messages() == []
        assert "1 step(s) interrupted by the previous owner's exit run again" in log_text(state_dir, "n-cpu")


def test_a_task_with_no_step_left_is_reset_at_start(config, state_dir):
    inst = _left_pausing(config, state_dir, "orphaned", "req-y", None)
    with Engine(config, state_dir) as eng:
        after = eng.store.get_instance(inst["uuid"])
        assert (after["vm_state"], after["task_state"], after["power_state"]) == ("active", None, S.RUNNING)
        assert eng.store.get_action("req-y")["finish_time"] is not None
        assert "Instance in transitional state (pausing) at start-up and power state is (1), " \
            "clearing task state" in log_text(state_dir, "n-cpu")


def test_power_state_follows_changes_made_behind_the_engines_back(engine, state_dir):
    paused = launch(engine, "ext-paused")
    killed = launch(engine, "ext-killed")
    domain(engine, paused).suspend()
    domain(engine, killed).destroy()
    eventually(lambda: engine.store.get_instance(paused["uuid"])["power_state"] == S.PAUSED_POWER, 2)
    after = eventually(lambda: (i := engine.store.get_instance(killed["uuid"]))["vm_state"] == "stopped" and i, 2)
    assert after["power_state"] == S.SHUTDOWN
    assert "Instance shutdown by itself. Calling the stop API." in log_text(state_dir, "n-cpu")


def test_delete_while_the_host_is_down_is_local_and_the_guest_is_cleaned_at_its_return(config, state_dir):
    eng = Engine(config, state_dir).start()
    inst = launch(eng, "orphan")
    eng.stop()  # every compute service is down now
    client = Engine(config, state_dir, own="none").start()
    req = client.request("delete", "orphan")
    assert req.done and client.store.get_instance(inst["uuid"])["vm_state"] == "deleted"
    client.stop()
    eng = Engine(config, state_dir).start()
    try:
        assert eng.computes[inst["host"]].driver.guests() == {}
        assert not (state_dir / "hosts" / inst["host"] / "instances" / inst["uuid"]).exists()
        assert "Destroying instance deleted while its host was down" in log_text(state_dir, "n-cpu")
    finally:
        eng.stop()


def test_run_states_go_to_the_node_journal_and_into_the_node_file_at_the_next_start(
        config, state_dir):
    """A pause or a stop appends a line to the host's node journal instead of writing the
    whole node file again; the next connection folds the journal into the file. A line
    written after an older write of the file, or cut by a kill, is not applied."""
    eng = Engine(config, state_dir).start()
    a, b = launch(eng, "a"), launch(eng, "b")
    nodes = {i["host"]: state_dir / "hosts" / i["host"] / "node.xml" for i in (a, b)}
    before = {n: p.read_bytes() for n, p in nodes.items()}
    act(eng, "pause", "a")
    act(eng, "stop", "b")
    assert {n: p.read_bytes() for n, p in nodes.items()} == before   # not written again
    journal = nodes[a["host"]].with_name("node.journal")
    assert f" {a['uuid']} {libvirt.VIR_DOMAIN_PAUSED} 0\n" in journal.read_text()
    eng.stop()   # as a kill would leave it: the journal not folded yet
    mark = nodes[a["host"]].read_text().splitlines()[0].split()[3]
    with journal.open("a") as f:   # (a paused guest found running stays so: no sync heals it)
        f.write(f"0123456789abcdef {a['uuid']} {libvirt.VIR_DOMAIN_RUNNING} 0\n")  # older
        f.write(f"{mark} {a['uuid']} {libvirt.VIR_DOMAIN_RUNNING} 0")    # cut: no newline

    eng = Engine(config, state_dir).start()
    try:
        for inst, state in ((a, libvirt.VIR_DOMAIN_PAUSED), (b, libvirt.VIR_DOMAIN_SHUTOFF)):
            assert domain(eng, inst).state()[0] == state
            conn = libvirt.open(f"test://{nodes[inst['host']]}")   # the file alone says so
            try:
                assert conn.lookupByUUIDString(inst["uuid"]).state()[0] == state
            finally:
                conn.close()
        assert journal.read_text() == ""
        assert act(eng, "unpause", "a")["vm_state"] == "active"
        assert act(eng, "start", "b")["vm_state"] == "active"
    finally:
        eng.stop()


def test_a_journal_write_that_fails_leaves_the_next_change_to_write_the_node_file(
        config, state_dir, monkeypatch):
    """A pause whose journal line cannot be written (a full disk) must not count as
    journaled: the next change of another guest writes the whole node file, with the first
    guest as libvirt has it, so a restart finds it paused."""
    import core.virt_simulated as simulated

    eng = Engine(config, state_dir).start()
    a, b = launch_on(eng, "cmp1", "a"), launch_on(eng, "cmp1", "b")
    with monkeypatch.context() as m:
        m.setattr(simulated.os, "write", lambda fd, data: 0)   # nothing written: disk full
        eng.wait(eng.request("pause", "a"), timeout=30)
    assert domain(eng, a).state()[0] == libvirt.VIR_DOMAIN_PAUSED   # libvirt did pause it
    act(eng, "pause", "b")
    eng.stop()

    eng = Engine(config, state_dir).start()
    try:
        for inst in (a, b):
            assert domain(eng, inst).state()[0] == libvirt.VIR_DOMAIN_PAUSED
    finally:
        eng.stop()


def test_the_start_up_sweep_removes_what_nothing_will_use_and_keeps_the_rest(config, state_dir):
    """A deleted instance's folder goes; an idle instance's partial copy goes, its disk stays;
    a partial copy of an instance with a step queued stays, as does a folder not ours."""
    eng = Engine(config, state_dir).start()
    idle, busy, gone = (launch_on(eng, "cmp1", name) for name in ("idle", "busy", "gone"))
    act(eng, "delete", "gone")
    eng.stop()
    root = state_dir / "hosts" / "cmp1" / "instances"
    (root / gone["uuid"]).mkdir()
    (root / gone["uuid"] / "disk").write_bytes(b"left")
    stranger = root / "3f6b7a7e-0000-4000-8000-000000000000"
    stranger.mkdir()
    for folder in (root / idle["uuid"], root / busy["uuid"], stranger):
        (folder / "disk.part-1234").write_bytes(b"half")
    eng.store.put_message("compute.elsewhere", {"method": "pause", "request_id": "req-q",
                                                 "args": {"uuid": busy["uuid"]}})
    idle_disk = _disk_sha(state_dir, idle)
    with Engine(config, state_dir) as eng:
        assert sorted(p.name for p in (root / idle["uuid"]).iterdir()) == ["disk"]
        assert _disk_sha(state_dir, idle) == idle_disk
        assert (root / busy["uuid"] / "disk.part-1234").exists()
        assert (stranger / "disk.part-1234").exists()
        assert not (root / gone["uuid"]).exists()
        assert f"Removing {gone['uuid']}: its instance is deleted" in log_text(state_dir, "n-cpu")
