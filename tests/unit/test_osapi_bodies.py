"""Nova's action bodies back to the action table (core/osapi/actions_map.py), and the
error bodies the HTTP API answers with."""
from __future__ import annotations

import json

import pytest

from core.actions import ACTIONS
from core.errors import InstanceInvalidState
from core.osapi.actions_map import action_from_body
from core.osapi.common import BadRequest, nova_fault

# An action's parameters as request_body takes them, and as API.perform takes them back.
PARAMS = {
    "rebuild": ({"image_id": "cirros"}, {"image": "cirros"}),
    "rescue": ({"image_id": "cirros"}, {"image": "cirros"}),
    "resize": ({"flavor": "m1.small"}, {"flavor": "m1.small"}),
    "snapshot": ({"name": "web1-snap"}, {"name": "web1-snap"}),
    "migrate": ({"host": "cmp2"}, {"host": "cmp2"}),
    "live_migrate": ({"host": "cmp2"}, {"host": "cmp2"}),
    "evacuate": ({"host": "cmp2"}, {"host": "cmp2"}),
}
REQUIRED = {"rebuild", "resize", "snapshot"}   # Nova's schema requires their parameter
BODY_ACTIONS = [name for name, a in ACTIONS.items() if a.http == ("POST", "/action")]


def cases():
    for name in BODY_ACTIONS:
        if name not in REQUIRED:
            yield name, {}, {}
        if name in PARAMS:
            yield name, *PARAMS[name]


@pytest.mark.parametrize("name,sent,taken", list(cases()))
def test_every_action_body_comes_back_as_its_action(name, sent, taken):
    body = json.loads(json.dumps(ACTIONS[name].request_body(sent)))   # as it goes on the wire
    assert action_from_body(body) == (name, taken)


def test_create_and_delete_are_the_only_actions_without_a_body():
    assert sorted(set(ACTIONS) - set(BODY_ACTIONS)) == ["create", "delete"]


@pytest.mark.parametrize("body,name,params", [
    ({"reboot": {"type": "soft"}}, "reboot", {}),
    ({"resize": {"flavorRef": "http://h:8774/v2.1/flavors/m1.small"}}, "resize",
     {"flavor": "m1.small"}),
    ({"rebuild": {"imageRef": "http://h/image/v2/images/abc", "preserve_ephemeral": False}},
     "rebuild", {"image": "abc"}),
    ({"os-migrateLive": {"host": None, "block_migration": "auto"}}, "live_migrate", {}),
    ({"os-migrateLive": {"host": "cmp3", "block_migration": False, "disk_over_commit": False}},
     "live_migrate", {"host": "cmp3"}),
    ({"evacuate": {}}, "evacuate", {}),
    ({"rescue": {}}, "rescue", {}),
    ({"os-stop": {}}, "stop", {}),
    ({"createImage": {"name": "snap", "metadata": {}}}, "snapshot", {"name": "snap"}),
    ({"lock": {"locked_reason": None}}, "lock", {}),
])
def test_what_other_clients_send(body, name, params):
    """Bodies as openstacksdk and older clients send them."""
    assert action_from_body(body) == (name, params)


@pytest.mark.parametrize("body,message", [
    ({"pause": None, "unpause": None}, "Malformed request body"),
    ({}, "Malformed request body"),
    ({"fly": None}, "There is no such action: fly"),
    ({"pause": "now"}, "Invalid input for field/attribute pause. Value: 'now'. 'now' is not "
                       "of type 'object', 'null'"),
    ({"reboot": {}}, "Invalid input for field/attribute reboot. Value: {}. 'type' is a "
                     "required property"),
    ({"reboot": {"type": "WARM"}}, "Invalid input for field/attribute type. Value: WARM. "
                                   "'WARM' is not one of ['HARD', 'SOFT']"),
    ({"resize": {}}, "Invalid input for field/attribute resize. Value: {}. 'flavorRef' is a "
                     "required property"),
    ({"rebuild": {"imageRef": "cirros", "name": "renamed"}},
     "Invalid input for field/attribute rebuild: 'name' is not supported by novatui"),
    ({"lock": {"locked_reason": "audit"}},
     "Invalid input for field/attribute lock: 'locked_reason' is not supported by novatui"),
    ({"createImage": {"name": "snap", "metadata": {"purpose": "backup"}}},
     "Invalid input for field/attribute createImage: 'metadata' is not supported by novatui"),
    ({"unshelve": {"availability_zone": "az2"}},
     "Invalid input for field/attribute unshelve: 'availability_zone' is not supported by "
     "novatui"),
])
def test_bodies_nova_refuses_or_novatui_cannot_honour_are_400(body, message):
    with pytest.raises(BadRequest) as refused:
        action_from_body(body)
    assert refused.value.message == message
    assert json.loads(nova_fault(refused.value).body) == \
        {"badRequest": {"code": 400, "message": message}}


def test_a_refused_action_is_novas_409_body():
    message = "Cannot 'pause' instance 6f1c while it is in vm_state paused"
    response = nova_fault(InstanceInvalidState(message))
    assert response.status == 409
    assert json.loads(response.body) == {"conflictingRequest": {"code": 409, "message": message}}
