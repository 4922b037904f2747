"""What a tokenless loopback listener refuses (a web page in the operator's browser must not
drive it), the body limits, a slow event stream's end, and images that would read host
files."""
from __future__ import annotations


import httpx
import pytest

from core.engine import Engine
from core.errors import InvalidInput
from core.osapi import events
from core.service import Service, ServiceError
from tests.conftest import launch, make_config
from tests.service.process import free_port


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exposure")
    port = free_port()
    service = Service(Engine(make_config(tmp), tmp / "state").start(),
                      listen=("127.0.0.1", port)).start()
    yield service, f"http://127.0.0.1:{port}"
    service.stop()


def test_a_web_page_cannot_drive_a_tokenless_loopback_listener(served):
    service, url = served
    inst = launch(service.engine, "target")
    action = f"{url}/v2.1/servers/{inst['uuid']}/action"
    # a cross-site "simple" request: no preflight, so it must fail on its own
    r = httpx.post(action, content=b'{"pause": null}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["badMediaType"]["code"] == 415
    r = httpx.post(action, json={"pause": None}, headers={"Host": "evil.example"})
    assert r.status_code == 403 and "Host 'evil.example' is not a loopback name" in r.text
    r = httpx.post(action, json={"pause": None}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "Origin 'http://evil.example'" in r.text
    assert service.engine.instance(inst["uuid"])["task_state"] is None  # nothing changed
    assert httpx.get(f"{url}/novatui/info", headers={"Origin": "http://localhost:3000"}).status_code == 200
    r = httpx.post(action, json={"pause": None})
    assert r.status_code == 202


def test_json_bodies_are_bounded(served):
    _, url = served
    r = httpx.post(f"{url}/v2.1/servers", content=b"[" * (2 << 20),
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["overLimit"]["code"] == 413
    r = httpx.post(f"{url}/v2.1/servers", content=b"[" * 100_000,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == "Malformed request body"
    r = httpx.get(f"{url}/v2.1/servers", headers={"OpenStack-API-Version": "compute 2." + "9" * 5000})
    assert r.status_code == 400 and len(r.text) < 300


def test_a_stream_that_falls_behind_ends_so_its_client_starts_again(served, monkeypatch):
    service, url = served
    monkeypatch.setattr(events, "MAX_QUEUED_BATCHES", 2)
    hub = service._runner.app[events.HUB]
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(service.socket_path)),
                      base_url="http://localhost", timeout=10) as http:
        with http.stream("GET", "/novatui/events") as stream:
            lines = stream.iter_lines()
            assert next(lines) == "event: snapshot"

            def flood():  # on the loop, at once: the handler cannot drain between them
                for _ in range(5):
                    hub.publish([{"type": "host", "host": {"name": "x"}}])
            service._loop.call_soon_threadsafe(flood)
            rest = list(lines)  # ends: the service closed the stream
    assert not any(line.startswith("event: batch") for line in rest)


def test_a_service_beyond_loopback_needs_its_tokens(tmp_path):
    engine = Engine(make_config(tmp_path), tmp_path / "state").start()
    try:
        with pytest.raises(ServiceError, match="refusing to listen on 0.0.0.0:8774 without a token"):
            Service(engine, listen=("0.0.0.0", 8774))
    finally:
        engine.stop()


def _qcow2(path, backing: bool = False, external_data: bool = False) -> None:
    header = bytearray(104)
    header[0:4] = b"QFI\xfb"
    header[4:8] = (3).to_bytes(4, "big")
    if backing:
        header[8:16] = (104).to_bytes(8, "big")
        header[16:20] = (11).to_bytes(4, "big")
    if external_data:
        header[72:80] = (4).to_bytes(8, "big")
    path.write_bytes(bytes(header) + b"/etc/passwd" + bytes(1 << 16))


def test_an_image_that_names_a_host_file_is_refused(engine, tmp_path):
    for kind in ("backing", "external_data"):
        path = tmp_path / f"{kind}.qcow2"
        _qcow2(path, **{kind: True})
        with pytest.raises(InvalidInput, match="is refused: it names a"):
            engine.submit(engine.api.create_image, f"evil-{kind}".replace("_", "-"), path).result()
    _qcow2(tmp_path / "plain.qcow2")
    image = engine.submit(engine.api.create_image, "plain", tmp_path / "plain.qcow2").result()
    assert image["disk_format"] == "qcow2" and image["status"] == "active"
