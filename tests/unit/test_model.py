"""The state model, the action table and domain XML."""
from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from core import actions, states as S
from core.config import validate_name
from core.errors import InvalidInput
from core.virt_xml import NOVA_NS, build_domain_xml


@pytest.mark.parametrize("vm,task,status", [
    ("active", None, "ACTIVE"), ("building", "spawning", "BUILD"), ("stopped", None, "SHUTOFF"),
    ("active", "rebooting", "REBOOT"), ("active", "reboot_started_hard", "HARD_REBOOT"),
    ("resized", None, "VERIFY_RESIZE"), ("resized", "resize_reverting", "REVERT_RESIZE"),
    ("paused", None, "PAUSED"), ("suspended", None, "SUSPENDED"), ("rescued", None, "RESCUE"),
    ("error", None, "ERROR"), ("shelved_offloaded", None, "SHELVED_OFFLOADED"),
    ("active", "migrating", "MIGRATING"), ("stopped", "resize_prep", "RESIZE"),
    ("active", "pausing", "ACTIVE"),
])
def test_api_status_follows_novas_state_map(vm, task, status):
    assert S.api_status(vm, task) == status


def _inst(**kw):
    base = {"uuid": "u-1", "vm_state": "active", "task_state": None, "locked": False,
            "launched_at": 1.0}
    return {**base, **kw}


def test_the_table_says_why_in_novas_words():
    assert actions.get("pause").refusal(_inst(vm_state="paused")).message == \
        "Cannot 'pause' instance u-1 while it is in vm_state paused"
    assert actions.get("pause").refusal(_inst(task_state="rebooting")).message == \
        "Cannot 'pause' instance u-1 while it is in task_state rebooting"
    assert actions.get("stop").refusal(_inst(locked=True)).message == "Instance u-1 is locked"
    assert actions.get("reboot_hard").allowed(_inst(task_state="pausing"))  # ALLOW_REBOOT
    assert actions.get("delete").allowed(_inst(vm_state="error", task_state="spawning", launched_at=None))
    assert actions.get("unlock").allowed(_inst(locked=True))


@given(st.text(min_size=1, max_size=80))
def test_names_that_pass_validation_are_plain(name):
    try:
        validate_name("server", name)
    except InvalidInput:
        return
    assert name.isascii() and all(c.isalnum() or c in "._-" for c in name)


def test_domain_xml_is_built_as_a_tree_with_nova_metadata():
    inst = {"uuid": "6f0c0e3a-0000-4000-8000-000000000001", "name": "web<1>&'",
            "flavor": "m1.tiny", "memory_mb": 512, "root_gb": 1, "vcpus": 1,
            "image_id": "img-1", "created_at": time.time()}
    root = ET.fromstring(build_domain_xml(inst, Path("/d/disk"), "test"))
    ns = {"nova": NOVA_NS}
    assert root.find("uuid").text == inst["uuid"]
    assert root.find("metadata/nova:instance/nova:name", ns).text == "web<1>&'"
    assert root.find("metadata/nova:instance/nova:flavor", ns).get("name") == "m1.tiny"
    assert root.find("metadata/nova:instance/nova:root", ns).get("uuid") == "img-1"
    assert root.find("devices/disk/source").get("file") == "/d/disk"
