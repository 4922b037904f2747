"""Images in use: a delete says what uses the image and changes nothing, a configured image
keeps its id, and an action that builds from a missing image is refused before it starts."""
from __future__ import annotations

import pytest

from core.engine import Engine
from core.errors import Conflict, InvalidInput
from tests.conftest import act, launch


def test_an_image_in_use_cannot_be_deleted_and_says_by_whom(engine):
    for name in ("web1", "web2"):
        launch(engine, name)
    with pytest.raises(Conflict, match="needed to rebuild, rescue or evacuate web1, web2"):
        engine.submit(engine.api.delete_image, "cirros").result()
    assert engine.images.get("cirros")["status"] == "active"


def test_a_configured_image_keeps_its_id(config, state_dir):
    with Engine(config, state_dir) as eng:
        first = eng.images.get("debian-12")["id"]
        eng.submit(eng.api.delete_image, "debian-12").result()
    with Engine(config, state_dir) as eng:
        assert eng.images.get("debian-12")["id"] == first


@pytest.mark.parametrize("action", ["rebuild", "rescue"])
def test_building_from_a_missing_image_is_refused_and_changes_nothing(engine, action):
    inst = launch(engine, "orphan")
    engine.store.delete_image(inst["image_id"])  # lost behind the engine's back
    with pytest.raises(InvalidInput, match="could not be found"):
        engine.request(action, "orphan")
    after = engine.instance("orphan")
    assert (after["vm_state"], after["task_state"]) == ("active", None)
    assert act(engine, "stop", "orphan")["vm_state"] == "stopped"  # still usable
