"""The invariant checker can fail: a healthy state passes, and each way of breaking it is
reported, with the right kind and instance."""
from __future__ import annotations

import re
import sqlite3
import uuid as uuidlib

import pytest

from tests.invariants import Violation, usage_violations


def findings(template, cloud) -> list[Violation]:
    return cloud.check(template.expected())


def assert_finds(template, cloud, kind: str, name: str | None = None) -> list[Violation]:
    found = findings(template, cloud)
    who = template.uuids.get(name) if name else None
    assert any(v.kind == kind and (who is None or v.uuid == who) for v in found), \
        f"no {kind} violation about {name}; found: {found}"
    return found


def write_db(cloud, sql: str, *args) -> None:
    db = sqlite3.connect(cloud.dir / "novatui.db")
    with db:
        db.execute(sql, args)
    db.close()


def node(cloud, host: str):
    return cloud.dir / "hosts" / host / "node.xml"


def domain_block(cloud, host: str, uuid: str) -> str:
    blocks = re.findall(r"<domain type=.*?</domain>", node(cloud, host).read_text(), re.S)
    return next(b for b in blocks if f"<uuid>{uuid}</uuid>" in b)


def edit_node(cloud, host: str, add: str = "", remove: str = "") -> None:
    """Change what libvirt's test driver loads for a host, as a second definition or an
    undefine done behind novatui's back would."""
    text = node(cloud, host).read_text().replace(remove, "")
    node(cloud, host).write_text(text.replace("</node>", add + "\n</node>"))


def other_host(cloud, host: str) -> str:
    return next(h for h in ("cmp1", "cmp2", "cmp3") if h != host)


@pytest.fixture
def cloud(template):
    return template.restore()


def test_the_template_is_healthy(template, cloud):
    assert findings(template, cloud) == []


def test_a_lost_disk(template, cloud):
    cloud.disk(cloud.instance("a1")).unlink()
    assert_finds(template, cloud, "disk", "a1")


def test_a_disk_that_is_not_the_content_it_had(template, cloud):
    with open(cloud.disk(cloud.instance("s1")), "r+b") as f:
        f.seek(4096)
        f.write(b"something else")
    assert_finds(template, cloud, "disk", "s1")


def test_a_lost_source_copy_of_a_resize(template, cloud):
    mig = cloud.rows("SELECT * FROM migrations WHERE instance_uuid=?", template.uuids["v1"])[-1]
    (cloud.dir / "hosts" / mig["source_host"] / "instances" / f"{mig['instance_uuid']}_resize"
     / "disk").unlink()
    assert_finds(template, cloud, "disk", "v1")


def test_a_lost_shelve_image(template, cloud):
    image_id = cloud.rows("SELECT id FROM images WHERE name='h1-shelved'")[0]["id"]
    next((cloud.dir / "images").glob(f"{image_id}.*")).unlink()
    assert_finds(template, cloud, "disk", "h1")


def test_a_guest_defined_on_two_hosts(template, cloud):
    inst = cloud.instance("a1")
    edit_node(cloud, other_host(cloud, inst["host"]), add=domain_block(cloud, inst["host"], inst["uuid"]))
    assert_finds(template, cloud, "two-hosts", "a1")


def test_a_guest_missing_from_its_host(template, cloud):
    inst = cloud.instance("a1")
    edit_node(cloud, inst["host"], remove=domain_block(cloud, inst["host"], inst["uuid"]))
    assert_finds(template, cloud, "placement", "a1")


def test_an_orphan_domain(template, cloud):
    inst = cloud.instance("a1")
    stranger = str(uuidlib.uuid4())
    block = domain_block(cloud, inst["host"], inst["uuid"]).replace(inst["uuid"], stranger)
    block = re.sub(r"<name>instance-\w+</name>", "<name>instance-stranger</name>", block)
    edit_node(cloud, other_host(cloud, inst["host"]), add=block)
    found = assert_finds(template, cloud, "orphan-domain")
    assert any(v.uuid == stranger for v in found)


@pytest.mark.parametrize("where", ["images/abc.raw.part-1234abcd",
                                   "hosts/cmp1/instances/x/disk.part-0f0f0f0f"])
def test_a_partial_copy_left_behind(template, cloud, where):
    path = cloud.dir / where
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a disk")
    found = assert_finds(template, cloud, "stray-file")
    assert any(path.name in v for v in found)


def test_a_stray_instance_directory(template, cloud):
    inst = cloud.instance("a1")
    (cloud.dir / "hosts" / other_host(cloud, inst["host"]) / "instances" / inst["uuid"]).mkdir(parents=True)
    assert_finds(template, cloud, "stray-file", "a1")


def test_a_stuck_task_state(template, cloud):
    write_db(cloud, "UPDATE instances SET task_state='resize_migrating' WHERE name='s1'")
    assert_finds(template, cloud, "task_state", "s1")


def test_an_unfinished_action(template, cloud):
    write_db(cloud, "UPDATE instance_actions SET finish_time=NULL WHERE instance_uuid=?",
             template.uuids["a1"])
    assert_finds(template, cloud, "unfinished-action", "a1")


def test_a_wedged_migration(template, cloud):
    write_db(cloud, "UPDATE instances SET vm_state='active' WHERE name='v1'")
    assert_finds(template, cloud, "wedged-migration", "v1")


def test_work_left_in_the_mailbox(template, cloud):
    write_db(cloud, "INSERT INTO messages (topic, payload, created_at) VALUES ('compute.cmp1', ?, 0)",
             '{"method": "resize_instance", "request_id": "req-x", "args": {"uuid": "%s"}}'
             % template.uuids["a1"])
    assert_finds(template, cloud, "mailbox", "a1")


def test_usage_that_does_not_add_up():
    reported = [{"name": "cmp1", "vcpus_used": 1, "memory_mb_used": 512, "disk_gb_used": 1}]
    assert usage_violations({"cmp1": (1, 512, 1)}, reported) == []
    assert [v.kind for v in usage_violations({"cmp1": (2, 1024, 2)}, reported)] == ["usage"]
