"""The stock `openstack` CLI against `novatui serve`: every step's output, and what
novatui's own store says happened (the HTTP request became the instance action it names)."""
from __future__ import annotations

import hashlib
import re

from core import states as S
from tests.conftest import eventually

ACTION_SECONDS = 30.0


def newest_action(service, uuid: str) -> dict | None:
    actions = service.store.list_actions(uuid)
    return actions[-1] if actions else None


def settled(service, uuid: str, action: str) -> dict:
    """The instance once its newest instance action is `action`, finished without error,
    and no task runs. Polling the store is quicker than `openstack --wait` (2 s polls), so
    only create and delete use --wait."""
    def done():
        a = newest_action(service, uuid)
        inst = service.store.get_instance(uuid)
        return inst if a and a["action"] == action and a["finish_time"] and \
            inst["task_state"] is None else None
    inst = eventually(done, timeout=ACTION_SECONDS)
    assert newest_action(service, uuid)["message"] is None, service.store.last_fault(uuid)
    return inst


def create(service, name: str, wait: bool = False) -> dict:
    shown = service.json("server", "create", "--flavor", "m1.tiny", "--image", "cirros",
                         *(["--wait"] if wait else []), name)
    inst = settled(service, shown["id"], "create")
    assert (inst["name"], inst["vm_state"], inst["flavor"], inst["image"]) == \
        (name, S.ACTIVE, "m1.tiny", "cirros")
    if wait:
        assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", inst["host"])
    return inst


def delete(service, inst: dict) -> None:
    service.openstack("server", "delete", "--wait", inst["name"])
    gone = service.store.get_instance(inst["uuid"])
    assert gone["vm_state"] == S.DELETED and gone["deleted_at"] is not None
    assert newest_action(service, inst["uuid"])["action"] == "delete"


def refused(service, *args: str) -> str:
    """A command the API refuses: what openstack prints (its one line on stderr)."""
    done = service.openstack(*args, check=False)
    assert done.returncode == 1, done.stderr[-800:]
    return done.stderr.strip()


def refusal_logged(service, message: str, method: str, path: str, status: int) -> None:
    """n-api logged the refusal as Nova's does: the exception, then the access line, under
    one request id (the one the response carried as x-openstack-request-id)."""
    api_log = service.log("n-api")
    rids = re.findall(r"\[None (req-[0-9a-f-]+) admin admin - - default default\] HTTP "
                      rf"exception thrown: {re.escape(message)}$", api_log, re.M)
    assert rids, message
    assert re.search(rf'{rids[-1]} .*"{method} {path} HTTP/1.1" status: {status} ', api_log)


def test_server_lifecycle(service):
    inst = create(service, "life1", wait=True)
    uuid = inst["uuid"]
    listed = [r for r in service.json("server", "list") if r["ID"] == uuid]
    assert listed == [{"ID": uuid, "Name": "life1", "Status": "ACTIVE",
                       "Networks": {"private": [inst["ip"]]}, "Image": "cirros",
                       "Flavor": "m1.tiny"}]
    shown = service.json("server", "show", "life1")
    assert (shown["id"], shown["OS-EXT-STS:vm_state"], shown["OS-EXT-STS:power_state"],
            shown["addresses"], shown["image"]) == \
        (uuid, "active", S.RUNNING, {"private": [inst["ip"]]}, f"cirros ({inst['image_id']})")

    service.openstack("server", "pause", "life1")
    assert settled(service, uuid, "pause")["vm_state"] == S.PAUSED
    message = f"Cannot 'pause' instance {uuid} while it is in vm_state paused"
    assert refused(service, "server", "pause", "life1") == (
        f"ConflictException: 409: Client Error for url: {service.url}/v2.1/servers/{uuid}/action, "
        f"{message}")
    refusal_logged(service, message, "POST", f"/v2.1/servers/{uuid}/action", 409)
    assert newest_action(service, uuid)["action"] == "pause"     # the refusal recorded nothing

    service.openstack("server", "unpause", "life1")
    assert settled(service, uuid, "unpause")["vm_state"] == S.ACTIVE
    service.openstack("server", "stop", "life1")
    assert settled(service, uuid, "stop")["power_state"] == S.SHUTDOWN
    service.openstack("server", "start", "life1")
    assert settled(service, uuid, "start")["power_state"] == S.RUNNING
    service.openstack("server", "reboot", "--hard", "life1")
    assert settled(service, uuid, "reboot")["vm_state"] == S.ACTIVE
    assert "Action: 'reboot', calling method: reboot_hard" in service.log("n-api")

    service.openstack("server", "lock", "life1")
    assert settled(service, uuid, "lock")["locked"]
    assert refused(service, "server", "stop", "life1").endswith(
        f"/v2.1/servers/{uuid}/action, Instance {uuid} is locked")
    service.openstack("server", "unlock", "life1")
    assert not settled(service, uuid, "unlock")["locked"]

    events = service.json("server", "event", "list", "life1")
    recorded = service.store.list_actions(uuid)
    assert [(e["Request ID"], e["Action"]) for e in events] == \
        [(a["request_id"], a["action"]) for a in reversed(recorded)]
    assert [e["Action"] for e in events] == ["unlock", "lock", "reboot", "start", "stop",
                                             "unpause", "pause", "create"]
    delete(service, inst)


def test_images_rebuild_rescue_shelve(service, tmp_path):
    inst = create(service, "img1")
    uuid = inst["uuid"]
    snap = service.json("server", "image", "create", "--name", "img1-snap", "img1")
    assert settled(service, uuid, "createImage")["vm_state"] == S.ACTIVE
    image = service.store.get_image(snap["id"])
    assert (image["name"], image["type"], image["instance_uuid"], image["status"]) == \
        ("img1-snap", "snapshot", uuid, "active")
    listed = {i["Name"]: i["ID"] for i in service.json("image", "list")}
    assert listed == {i["name"]: i["id"] for i in service.store.list_images()}
    assert {"cirros", "debian-12", "img1-snap"} <= set(listed)

    service.openstack("server", "rebuild", "--image", "debian-12", "img1")
    assert settled(service, uuid, "rebuild")["image"] == "debian-12"
    service.openstack("server", "rescue", "img1")
    assert settled(service, uuid, "rescue")["vm_state"] == S.RESCUED
    service.openstack("server", "unrescue", "img1")
    assert settled(service, uuid, "unrescue")["vm_state"] == S.ACTIVE
    service.openstack("server", "shelve", "img1")
    shelved = settled(service, uuid, "shelve")
    assert (shelved["vm_state"], shelved["host"]) == (S.SHELVED_OFFLOADED, None)
    service.openstack("server", "unshelve", "img1")
    back = settled(service, uuid, "unshelve")
    assert back["vm_state"] == S.ACTIVE and back["host"] is not None

    data = tmp_path / "upload.raw"
    data.write_bytes(b"novatui upload test\n".ljust(2 << 20, b"\0"))
    up = service.json("image", "create", "--file", str(data), "--disk-format", "raw", "up1")
    stored = service.store.get_image(up["id"])
    assert (stored["status"], stored["size"], stored["checksum"]) == \
        ("active", data.stat().st_size, hashlib.sha256(data.read_bytes()).hexdigest())
    error = refused(service, "image", "create", "--file", str(data), "--disk-format", "qcow2",
                    "up2")
    assert error.endswith("Image content does not match disk_format: the data is raw, the "
                          "image says qcow2")
    assert service.store.find_images("up2") == []   # openstack deleted the queued record
    debian = service.store.find_images("debian-12")[0]
    message = (f"Image debian-12 ({debian['id']}) is needed to rebuild, rescue or evacuate "
               "img1; it cannot be deleted")
    assert message in refused(service, "image", "delete", "debian-12")
    refusal_logged(service, message, "DELETE", f"/image/v2/images/{debian['id']}", 409)
    assert service.store.get_image(debian["id"]) is not None
    service.openstack("image", "delete", "up1")
    assert service.store.get_image(up["id"]) is None
    delete(service, back)


def test_moves_and_admin_views(service):
    inst = create(service, "mv1")
    uuid = inst["uuid"]
    service.openstack("server", "migrate", "mv1")
    moved = settled(service, uuid, "migrate")
    assert moved["vm_state"] == S.RESIZED and moved["host"] != inst["host"]
    assert service.json("server", "show", "mv1")["status"] == "VERIFY_RESIZE"
    service.openstack("server", "migrate", "confirm", "mv1")
    confirmed = settled(service, uuid, "confirmResize")
    assert confirmed["vm_state"] == S.ACTIVE and confirmed["host"] == moved["host"]

    service.openstack("server", "resize", "--flavor", "m1.small", "mv1")
    resized = settled(service, uuid, "resize")
    assert (resized["vm_state"], resized["flavor"]) == (S.RESIZED, "m1.small")
    service.openstack("server", "resize", "revert", "mv1")
    reverted = settled(service, uuid, "revertResize")
    assert (reverted["flavor"], reverted["host"]) == ("m1.tiny", moved["host"])
    migrations = service.json("server", "migration", "list", "--server", "mv1")
    recorded = service.store.list_migrations(uuid)
    assert sorted((m["Id"], m["Status"], m["Type"]) for m in migrations) == \
        [(m["id"], m["status"], m["migration_type"]) for m in recorded] == \
        [(recorded[0]["id"], "confirmed", "migration"), (recorded[1]["id"], "reverted", "resize")]

    config_flavors = ["m1.large", "m1.medium", "m1.small", "m1.tiny", "m1.xlarge"]
    assert [f["Name"] for f in service.json("flavor", "list")] == config_flavors
    assert [(h["Hypervisor Hostname"], h["State"]) for h in service.json("hypervisor", "list")] \
        == [("cmp1", "up"), ("cmp2", "up"), ("cmp3", "up")]
    service.openstack("compute", "service", "set", "--disable", "--disable-reason", "maint",
                      "cmp1", "nova-compute")
    assert service.store.services()["cmp1"]["disabled_reason"] == "maint"
    rows = {(s["Binary"], s["Host"]): s for s in service.json("compute", "service", "list")}
    assert {b for b, _ in rows} == {"nova-compute", "nova-scheduler", "nova-conductor"}
    assert (rows["nova-compute", "cmp1"]["Status"], rows["nova-compute", "cmp2"]["Status"]) \
        == ("disabled", "enabled")
    service.openstack("compute", "service", "set", "--enable", "cmp1", "nova-compute")
    assert not service.store.services()["cmp1"]["disabled"]
    delete(service, reverted)
