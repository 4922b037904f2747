"""Image and move operations on the libvirt test driver across the three simulated hosts:
state, host, resources on both hosts, and the disk's sha256 through every move."""
from __future__ import annotations

import hashlib
from pathlib import Path

import libvirt
import pytest

from core import states as S
from core.actions import ACTIONS
from core.errors import Conflict, InstanceInvalidState, InvalidInput
from tests.conftest import act, domain, eventually, launch, log_text

RUNNING, SHUTOFF = libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_SHUTOFF


def disk(state_dir: Path, inst: dict, name: str = "disk") -> Path:
    return state_dir / "hosts" / inst["host"] / "instances" / inst["uuid"] / name


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_guest_data(state_dir, inst) -> str:
    """What a guest would do: change its disk, so copies can be told from the image."""
    with open(disk(state_dir, inst), "r+b") as f:
        f.seek(4096)
        f.write(f"data of {inst['name']}".encode())
    return sha(disk(state_dir, inst))


def usage(engine) -> dict:
    return {h["name"]: (h["vcpus_used"], h["memory_mb_used"], h["instances"]) for h in engine.hosts()}


def guests(engine, host) -> list[str]:
    return [d.UUIDString() for d in engine.computes[host].driver.conn.listAllDomains()]


def test_snapshot_makes_an_image_and_leaves_the_instance_as_it_was(engine, state_dir):
    inst = launch(engine, "snap")
    content = write_guest_data(state_dir, inst)
    for state_action in (None, "pause"):
        if state_action:
            act(engine, state_action, "snap")
        before = engine.instance("snap")
        name = f"snap-{state_action or 'running'}"
        after = act(engine, "snapshot", "snap", name=name)
        assert (after["vm_state"], after["power_state"], after["task_state"]) == \
            (before["vm_state"], before["power_state"], None)
        assert domain(engine, after).state()[0] == domain(engine, before).state()[0]
        image = engine.images.get(name)
        assert (image["type"], image["status"], image["instance_uuid"]) == ("snapshot", "active", inst["uuid"])
        assert image["checksum"] == content == sha(Path(image["path"]))
    cpu = log_text(state_dir, "n-cpu")
    assert "Beginning cold snapshot process" in cpu and "Snapshot image upload complete" in cpu


def test_rebuild_replaces_the_disk_and_keeps_identity(engine, state_dir):
    inst = launch(engine, "rb")
    write_guest_data(state_dir, inst)
    after = act(engine, "rebuild", "rb", image="debian-12")
    keep = ("uuid", "name", "flavor", "host", "ip")
    assert {k: after[k] for k in keep} == {k: inst[k] for k in keep}
    assert (after["vm_state"], after["image"]) == ("active", "debian-12")
    assert sha(disk(state_dir, after)) == engine.images.get("debian-12")["checksum"]
    assert domain(engine, after).state()[0] == RUNNING
    act(engine, "stop", "rb")
    assert act(engine, "rebuild", "rb")["vm_state"] == "stopped"  # a stopped instance stays stopped


def test_rescue_boots_the_rescue_image_with_the_disk_second_and_unrescue_undoes_it(engine, state_dir):
    inst = launch(engine, "res")
    original = write_guest_data(state_dir, inst)
    rescued = act(engine, "rescue", "res", image="debian-12")
    assert rescued["vm_state"] == "rescued" and S.api_status("rescued", None) == "RESCUE"
    xml = domain(engine, rescued).XMLDesc(0)
    sources = [line.split("'")[1] for line in xml.splitlines() if "<source file=" in line]
    assert sources == [str(disk(state_dir, inst, "disk.rescue")), str(disk(state_dir, inst))]
    assert sha(disk(state_dir, inst)) == original  # rescue itself never writes the disk
    back = act(engine, "unrescue", "res")
    assert back["vm_state"] == "active" and domain(engine, back).state()[0] == RUNNING
    assert "disk.rescue" not in domain(engine, back).XMLDesc(0)
    assert not disk(state_dir, inst, "disk.rescue").exists()


def test_shelve_offload_and_unshelve_elsewhere_keep_the_disk(config, state_dir):
    from core.engine import Engine
    with Engine(config, state_dir) as engine:
        inst = launch(engine, "shelf", "m1.medium")
        content = write_guest_data(state_dir, inst)
        source = inst["host"]
        shelved = act(engine, "shelve", "shelf")
        assert (shelved["vm_state"], shelved["host"], shelved["power_state"]) == ("shelved_offloaded", None, S.SHUTDOWN)
        assert inst["uuid"] not in guests(engine, source)
        assert not disk(state_dir, inst).exists()
        assert usage(engine)[source] == (0, 0, 0)
        image = engine.images.get("shelf-shelved")
        assert image["checksum"] == content
        with pytest.raises(Conflict, match="needed to unshelve shelf"):
            engine.images.delete("shelf-shelved")
        # make the old host the worst choice, so unshelve lands elsewhere
        engine.submit(engine.api.set_host, source, False, "maintenance").result()
        back = act(engine, "unshelve", "shelf")
        assert back["vm_state"] == "active" and back["host"] not in (None, source)
        assert back["ip"] == inst["ip"]
        assert sha(disk(state_dir, back)) == content
        assert domain(engine, back).state()[0] == RUNNING
        assert engine.store.get_image(image["id"]) is None  # the shelve image is gone
        assert "Shelve offloading" in log_text(state_dir, "n-cpu")


def test_shelve_without_offload_then_offload_command(tmp_path):
    from core.engine import Engine
    from tests.conftest import make_config
    config = make_config(tmp_path, replace={"shelved_offload_time = 0": "shelved_offload_time = -1"})
    with Engine(config, tmp_path / "state") as engine:
        inst = launch(engine, "keep")
        shelved = act(engine, "shelve", "keep")
        assert (shelved["vm_state"], shelved["host"]) == ("shelved", inst["host"])
        assert domain(engine, shelved).state()[0] == SHUTOFF
        assert act(engine, "unshelve", "keep")["vm_state"] == "active"  # powered on in place
        act(engine, "shelve", "keep")
        off = act(engine, "shelve_offload", "keep")
        assert (off["vm_state"], off["host"]) == ("shelved_offloaded", None)


@pytest.mark.parametrize("kind", ["migrate", "resize"])
def test_cold_move_with_confirm(engine, state_dir, kind):
    inst = launch(engine, "mover", "m1.small")
    content = write_guest_data(state_dir, inst)
    source = inst["host"]
    params = {"flavor": "m1.medium"} if kind == "resize" else {}
    moved = act(engine, kind, "mover", **params)
    dest = moved["host"]
    assert dest != source and moved["vm_state"] == "resized"
    assert S.api_status(moved["vm_state"], moved["task_state"]) == "VERIFY_RESIZE"
    assert sha(disk(state_dir, moved)) == content
    assert guests(engine, dest) == [inst["uuid"]] and guests(engine, source) == []
    assert domain(engine, moved).state()[0] == RUNNING
    flavor = engine.config.flavor("m1.medium" if kind == "resize" else "m1.small")
    held = usage(engine)
    assert held[dest][:2] == (flavor.vcpus, flavor.ram_mb)  # the instance, at its new size
    assert held[source][:2] == (1, 2048)  # the source copy is held until confirm
    confirmed = act(engine, "confirm_resize", "mover")
    assert (confirmed["vm_state"], confirmed["host"], confirmed["flavor"]) == ("active", dest, flavor.name)
    assert usage(engine)[source] == (0, 0, 0)
    assert not (state_dir / "hosts" / source / "instances" / f"{inst['uuid']}_resize").exists()
    assert sha(disk(state_dir, confirmed)) == content
    events = [e["event"] for e in engine.actions("mover")[1]["events"]]
    assert events == ["conductor_" + kind + "_server", "compute_prep_resize",
                      "compute_resize_instance", "compute_finish_resize"]


def test_resize_revert_goes_back_to_the_source(engine, state_dir):
    inst = launch(engine, "back", "m1.small")
    content = write_guest_data(state_dir, inst)
    act(engine, "resize", "back", flavor="m1.medium")
    reverted = act(engine, "revert_resize", "back")
    assert (reverted["vm_state"], reverted["host"], reverted["flavor"]) == ("active", inst["host"], "m1.small")
    assert sha(disk(state_dir, reverted)) == content
    assert domain(engine, reverted).state()[0] == RUNNING
    others = [h for h in ("cmp1", "cmp2", "cmp3") if h != inst["host"]]
    assert all(guests(engine, h) == [] for h in others)
    assert all(usage(engine)[h] == (0, 0, 0) for h in others)


def test_resize_rules(engine, tmp_path):
    launch(engine, "r", "m1.medium")
    with pytest.raises(InvalidInput, match="Unable to resize disk down"):
        engine.request("resize", "r", flavor="m1.small")
    with pytest.raises(InvalidInput, match="must change flavor"):
        engine.request("resize", "r", flavor="m1.medium")
    with pytest.raises(InstanceInvalidState, match="vm_state active"):
        engine.request("confirm_resize", "r")
    assert engine.instance("r")["task_state"] is None


def test_a_stopped_instance_migrates_stopped(engine, state_dir):
    launch(engine, "cold")
    act(engine, "stop", "cold")
    moved = act(engine, "migrate", "cold")
    assert moved["power_state"] == S.SHUTDOWN and domain(engine, moved).state()[0] == SHUTOFF
    assert act(engine, "confirm_resize", "cold")["vm_state"] == "stopped"


def test_migrate_to_a_named_host_and_no_valid_host(engine):
    inst = launch(engine, "target", az="az1")
    other = {"cmp1": "cmp2", "cmp2": "cmp1"}[inst["host"]]
    assert act(engine, "migrate", "target", host=other)["host"] == other
    act(engine, "confirm_resize", "target")
    with pytest.raises(InvalidInput, match="can't be the same one"):
        engine.request("migrate", "target", host=other)
    for h in ("cmp1", "cmp2", "cmp3"):
        if h != other:
            engine.submit(engine.api.set_host, h, False, None).result()
    req = engine.request("migrate", "target")
    assert engine.wait(req)["message"] == "Error"
    after = engine.instance("target")
    assert (after["vm_state"], after["task_state"], after["host"]) == ("active", None, other)
    assert engine.fault(after["uuid"])["message"] == "No valid host found for cold migrate"


def test_live_migrate_on_the_test_driver_is_refused_clearly(engine, state_dir):
    inst = launch(engine, "live")
    req = engine.request("live_migrate", "live")
    assert engine.wait(req)["message"] == "Error"
    after = engine.instance("live")
    assert (after["vm_state"], after["task_state"], after["host"]) == ("active", None, inst["host"])
    fault = engine.fault(inst["uuid"])["message"]
    assert "libvirt refused to live migrate" in fault and "not supported" in fault
    assert domain(engine, after).state()[0] == RUNNING
    assert engine.store.list_migrations(inst["uuid"])[-1]["status"] == "error"


def test_evacuate_needs_the_host_down_and_rebuilds_elsewhere(engine, state_dir):
    inst = launch(engine, "evac")
    source = inst["host"]
    with pytest.raises(InvalidInput, match=f"Compute service of {source} is still in use."):
        engine.request("evacuate", "evac")
    engine.submit(engine.api.set_host, source, False, "dead", True).result()
    moved = act(engine, "evacuate", "evac")
    assert moved["host"] != source and moved["vm_state"] == "active"
    assert moved["ip"] == inst["ip"]
    assert sha(disk(state_dir, moved)) == engine.images.get("cirros")["checksum"]
    # the source, still running here, removes its stale copy: never on two hosts
    eventually(lambda: guests(engine, source) == [] and
               not (state_dir / "hosts" / source / "instances" / inst["uuid"]).exists(), 3)
    assert usage(engine)[source] == (0, 0, 0)


def test_a_copy_that_fails_leaves_the_instance_on_its_source(engine, state_dir):
    inst = launch(engine, "stay", az="az1")
    content = write_guest_data(state_dir, inst)
    dest = {"cmp1": "cmp2", "cmp2": "cmp1"}[inst["host"]]
    target = state_dir / "hosts" / dest / "instances"
    if target.exists():
        target.rmdir()
    target.write_text("not a directory")  # the copy to dest fails
    req = engine.request("migrate", "stay", host=dest)
    assert engine.wait(req)["message"] == "Error"
    after = engine.instance("stay")
    assert (after["vm_state"], after["task_state"], after["host"]) == ("active", None, inst["host"])
    assert sha(disk(state_dir, after)) == content
    assert domain(engine, after).state()[0] == RUNNING
    assert guests(engine, dest) == []
    assert usage(engine)[dest] == (0, 0, 0)
    assert engine.fault(inst["uuid"])["request_id"] == req.request_id


def test_a_failing_finish_leaves_error_with_the_disk_on_the_source(engine, state_dir):
    inst = launch(engine, "halfway", az="az1")
    content = write_guest_data(state_dir, inst)
    dest = {"cmp1": "cmp2", "cmp2": "cmp1"}[inst["host"]]
    # a guest already defined on dest under the same name: defineXML fails there
    clash = engine.computes[dest].driver.conn
    xml = domain(engine, inst).XMLDesc(0).replace(inst["uuid"], "00000000-0000-4000-8000-00000000beef")
    clash.defineXML(xml)
    req = engine.request("migrate", "halfway", host=dest)
    assert engine.wait(req)["message"] == "Error"
    after = eventually(lambda: (i := engine.instance("halfway"))["vm_state"] == "error" and i)
    assert after["host"] == inst["host"] and after["task_state"] is None
    eventually(lambda: disk(state_dir, after).exists())
    assert sha(disk(state_dir, after)) == content
    assert inst["uuid"] not in guests(engine, dest)
    assert "already exists" in engine.fault(inst["uuid"])["message"]
    recovered = eventually(lambda: act(engine, "reboot_hard", "halfway"))
    assert recovered["vm_state"] == "active" and domain(engine, recovered).state()[0] == RUNNING


def test_every_move_action_refuses_illegal_states(engine):
    launch(engine, "vm")
    act(engine, "pause", "vm")
    for name in ("rebuild", "rescue", "unrescue", "unshelve", "migrate", "resize",
                 "confirm_resize", "revert_resize", "evacuate", "shelve_offload"):
        action = ACTIONS[name]
        assert not action.allowed(engine.instance("vm")), name
        with pytest.raises(InstanceInvalidState, match="vm_state paused"):
            engine.request(name, "vm", **({"flavor": "m1.small"} if name == "resize" else {}))
    assert engine.instance("vm")["task_state"] is None


def test_image_create_show_delete(engine, tmp_path):
    raw = tmp_path / "mine.img"
    raw.write_bytes(b"x" * 4096)
    img = engine.submit(engine.api.create_image, "mine", str(raw)).result()
    assert (img["disk_format"], img["size"], img["type"]) == ("raw", 4096, "image")
    assert img["checksum"] == hashlib.sha256(b"x" * 4096).hexdigest()
    inst = launch(engine, "frommine", image="mine")
    assert inst["vm_state"] == "active"
    with pytest.raises(Conflict, match="needed to rebuild, rescue or evacuate frommine"):
        engine.submit(engine.api.delete_image, "mine").result()
    act(engine, "delete", "frommine")
    engine.submit(engine.api.delete_image, "mine").result()
    assert all(i["name"] != "mine" for i in engine.images.list())


def test_a_step_queued_before_a_delete_does_not_take_the_instance_back(engine):
    from core.bus import compute_topic
    inst = launch(engine, "racing")
    engine.store.update_instance(inst["uuid"], task_state="deleting")  # the API's delete took it
    engine.store.start_action(inst["uuid"], "pause", "req-queued-before")
    engine.bus.cast(compute_topic(inst["host"]), "pause", "req-queued-before", uuid=inst["uuid"])
    assert engine.wait("req-queued-before", 10)["message"] == "Error"
    after = engine.store.get_instance(inst["uuid"])
    assert (after["task_state"], after["vm_state"]) == ("deleting", "active")
    assert domain(engine, after).state()[0] == RUNNING


def test_a_restart_in_the_middle_of_a_migration_carries_it_on(config, state_dir):
    """A move whose step was lost (no message anywhere) is resumed from its migration
    record at the next start: never undone, and the disk arrives whole."""
    from core.engine import Engine
    eng = Engine(config, state_dir).start()
    inst = launch(eng, "crashmove", az="az1")
    content = write_guest_data(state_dir, inst)
    dest = {"cmp1": "cmp2", "cmp2": "cmp1"}[inst["host"]]
    # what a crash after the source powered off and moved its disk aside leaves behind
    eng.store.start_action(inst["uuid"], "migrate", "req-crashmove")
    eng.store.update_instance(inst["uuid"], task_state="resize_migrating")
    eng.computes[inst["host"]].call(eng.computes[inst["host"]].driver.migrate_disk_and_power_off,
                                    inst["uuid"], 0).result(10)
    eng.store.create_migration({"instance_uuid": inst["uuid"], "migration_type": "migration",
                                "source_host": inst["host"], "dest_host": dest, "old_flavor": "m1.tiny",
                                "new_flavor": "m1.tiny", "status": "migrating", "held_host": dest,
                                "held_vcpus": 1, "held_memory_mb": 512, "held_root_gb": 1,
                                "request_id": "req-crashmove"})
    eng.stop()
    eng = Engine(config, state_dir).start()
    try:
        assert eng.wait("req-crashmove", 10)["message"] is None
        after = eng.instance("crashmove")
        assert (after["vm_state"], after["task_state"], after["host"]) == ("resized", None, dest)
        assert sha(disk(state_dir, after)) == content
        kept = state_dir / "hosts" / inst["host"] / "instances" / f"{inst['uuid']}_resize" / "disk"
        assert sha(kept) == content
        assert domain(eng, after).state()[0] == RUNNING  # as it was before the move began
        assert eng.store.list_migrations(inst["uuid"])[-1]["status"] == "finished"
        assert "Resuming migration" in log_text(state_dir, "n-cpu")
        reverted = act(eng, "revert_resize", "crashmove")
        assert (reverted["host"], reverted["vm_state"]) == (inst["host"], "active")
        assert sha(disk(state_dir, reverted)) == content
    finally:
        eng.stop()


def test_the_conductor_survives_a_request_it_cannot_handle(engine):
    inst = launch(engine, "odd")
    engine.store.update_instance(inst["uuid"], task_state="resize_prep")
    engine.store.start_action(inst["uuid"], "resize", "req-odd")
    engine.bus.cast("conductor", "resize", "req-odd", uuid=inst["uuid"], flavor="no.such.flavor")
    assert engine.wait("req-odd", 10)["message"] == "Error"
    after = engine.instance("odd")
    assert (after["vm_state"], after["task_state"]) == ("active", None)
    assert "no.such.flavor" in engine.fault(inst["uuid"])["message"]
    assert launch(engine, "next")["vm_state"] == "active"  # placement still works


def test_moves_keep_the_requested_zone_and_a_free_instance_follows_its_host(engine):
    """Nova keeps the requested zone in the request spec and filters every move by it; an
    instance created without one takes the zone of the host it lands on."""
    pinned = launch(engine, "pinned", az="az1")
    assert engine.config.host(pinned["host"]).availability_zone == "az1"
    resized = act(engine, "resize", "pinned", flavor="m1.small")
    assert resized["vm_state"] == "resized" and resized["availability_zone"] == "az1"
    assert engine.config.host(resized["host"]).availability_zone == "az1"  # not cmp3 (az2, roomiest)
    act(engine, "confirm_resize", "pinned")
    engine.submit(engine.api.set_host, resized["host"], False, "dead", True).result()
    evacuated = act(engine, "evacuate", "pinned")
    assert evacuated["vm_state"] == "active" and evacuated["availability_zone"] == "az1"
    assert engine.config.host(evacuated["host"]).availability_zone == "az1"
    engine.submit(engine.api.set_host, resized["host"], True).result()
    free = launch(engine, "free")
    moved = act(engine, "migrate", "free")
    assert moved["availability_zone"] == engine.config.host(moved["host"]).availability_zone
    assert act(engine, "revert_resize", "free")["availability_zone"] == \
        engine.config.host(free["host"]).availability_zone
