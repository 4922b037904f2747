"""HttpClient against a real service of simulated hosts: Nova's error bodies come back as
core.errors' exceptions with the service's words, an unreachable service is one line naming
it, images go up and away through the Glance API, waits time out as an engine's do, and the
event stream is read as Server-Sent Events."""
from __future__ import annotations

import pytest

from core.cli import attach
from core.errors import Conflict, InstanceInvalidState, InvalidInput, NotFound, ReadOnly
from core.events import ActionFinished, InstanceChanged, LogEmitted, Snapshot
from core.http_client import HttpClient, ServiceUnavailable
from core.http_events import decode, sse_messages
from core.service import Service
from tests.conftest import launch
from tests.tui.conftest import start_engine


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from tests.conftest import make_config
    tmp = tmp_path_factory.mktemp("http")
    service = Service(start_engine((make_config(tmp), tmp / "state"))).start()
    client = attach(service.socket_url, False)
    launch(service.engine, "vm")
    yield service, client
    client.close()
    service.stop()


def test_nova_faults_become_core_errors_with_the_services_message(served):
    service, client = served
    uuid = client.instance("vm")["uuid"]
    with pytest.raises(NotFound, match="No server with a name or ID of 'nope' exists."):
        client.instance("nope")
    with pytest.raises(InstanceInvalidState, match=f"Cannot 'unpause' instance {uuid} while"):
        client.request("unpause", "vm")
    with pytest.raises(InvalidInput, match="must change flavor"):
        client.request("resize", "vm", flavor="m1.tiny")
    with pytest.raises(InvalidInput, match="no host named 'nowhere'"):
        client.set_host("nowhere", False)
    reader = HttpClient(service.socket_url, socket_path=str(service.socket_path), read_only=True)
    try:
        with pytest.raises(ReadOnly, match="read-only"):
            reader.request("pause", "vm")
        assert reader.info()["read_only"] is True
    finally:
        reader.close()


def test_an_unreachable_service_is_one_line_naming_it(tmp_path):
    gone = HttpClient("unix:/nowhere/api.sock", socket_path=str(tmp_path / "api.sock"))
    with pytest.raises(ServiceUnavailable) as caught:
        gone.hosts()
    assert caught.value.message == ("cannot reach the novatui service at unix:/nowhere/api.sock: "
                                    "No such file or directory")
    gone.close()


def test_requests_wait_and_time_out_like_an_engines(served):
    _, client = served
    req = client.request("lock", "vm")
    assert req.done and client.wait(req, 5)["action"] == "lock"
    req = client.request("unlock", "vm")
    assert client.wait(req, 5)["finish_time"] is not None
    with pytest.raises(NotFound, match="Request req-nope could not be found."):
        client.wait("req-nope", 1)


def test_images_go_up_and_away_through_glance(served, tmp_path):
    _, client = served
    qcow = tmp_path / "disk.qcow2"
    qcow.write_bytes(b"QFI\xfb" + b"\0" * (3 << 20))   # more than one upload chunk
    image = client.create_image("mine", str(qcow))
    assert (image["name"], image["status"], image["disk_format"]) == ("mine", "active", "qcow2")
    assert image["size"] == qcow.stat().st_size and client.image_users(image["id"]) == []
    with pytest.raises(InvalidInput, match="does not exist or is not a file"):
        client.create_image("none", str(tmp_path / "missing"))
    assert client.delete_image("mine")["id"] == image["id"]
    with pytest.raises(NotFound):
        client.image(image["id"])
    with pytest.raises(Conflict, match="is needed"):
        client.delete_image("cirros")   # vm was built from it


def test_server_sent_events_become_core_events():
    stream = ["event: snapshot", 'data: {"instances": [], "hosts": []}', "", ": keepalive", "",
              "event: batch",
              'data: [{"type": "instance", "instance": {"uuid": "u"}},',
              'data: {"type": "log", "line": {"service": "n-api", "time": 1.5, "level": "INFO", '
              '"logger": "l", "message": "m", "request_id": null, "instance": null, '
              '"host": null, "pid": 7}},',
              'data: {"type": "finished", "request_id": "r", "instance_uuid": "u", '
              '"action": "pause", "ok": false, "message": "no"}, {"type": "later"}]', ""]
    events = [e for name, data in sse_messages(stream) for e in decode(name, data)]
    assert events[0] == Snapshot([], [])
    assert events[1] == InstanceChanged({"uuid": "u"})
    assert isinstance(events[2], LogEmitted) and events[2].line.pid == 7
    assert events[3] == ActionFinished("r", "u", "pause", False, "no")
    assert len(events) == 4   # a kind this client does not know is skipped
