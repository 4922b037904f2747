"""Hostile input to the HTTP API, against an in-process service over its Unix socket: every
bad body, query or path gets Nova's (or Glance's) error body with one line naming the field
and the reason (never a 500, never a traceback), and no error echoes unbounded input."""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.client import xml_sentence
from core.engine import Engine
from core.errors import NovaError
from core.http_client import HttpClient, ServiceUnavailable
from core.osapi import ext
from core.osapi.events import HUB
from core.service import Service
from tests.conftest import launch, make_config

V253 = {"OpenStack-API-Version": "compute 2.53"}
LATEST = {"OpenStack-API-Version": "compute latest"}
ECHO_LIMIT = 300          # an error message quotes a value, at most ~80 characters of it
HUGE = "x" * 10000


def start_service(tmp) -> Service:
    return Service(Engine(make_config(tmp), tmp / "state").start()).start()


def http_of(svc: Service, timeout: float = 15.0) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(svc.socket_path)),
                        base_url="http://localhost", timeout=timeout)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    svc = start_service(tmp_path_factory.mktemp("hostile"))
    http = http_of(svc)
    launch(svc.engine, "vm1")
    launch(svc.engine, "vm2")
    yield svc, http
    http.close()
    svc.stop(settle=False)


@pytest.fixture
def http(served):
    return served[1]


@pytest.fixture
def svc(served):
    return served[0]


def refused(response: httpx.Response, code: int = 400, *words: str) -> str:
    """Nova's fault body, one line, naming what it says it names; the message."""
    names = {400: "badRequest", 404: "itemNotFound", 409: "conflictingRequest",
             503: "serviceUnavailable"}
    assert response.status_code == code, response.text
    body = response.json()
    assert list(body) == [names[code]], body
    message = body[names[code]]["message"]
    assert body[names[code]]["code"] == code
    assert "\n" not in message and "Traceback" not in message, message
    assert len(message) < ECHO_LIMIT, message
    for word in words:
        assert word in message, message
    return message


def create(http: httpx.Client, **server) -> httpx.Response:
    return http.post("/v2.1/servers", json={"server": {
        "name": "new", "flavorRef": "m1.tiny", "imageRef": "cirros", **server}})


# -- 1, 2: create bodies ------------------------------------------------------------------
@pytest.mark.parametrize("bdms", [{"source_type": "image"}, "image", [1], ["image"], [[]],
                                  [None]])
def test_block_device_mapping_v2_of_the_wrong_type_is_400(http, bdms):
    refused(create(http, block_device_mapping_v2=bdms), 400, "block_device_mapping_v2")


@pytest.mark.parametrize("field,value", [
    ("security_groups", 5), ("security_groups", "default"), ("security_groups", [5]),
    ("security_groups", [["default"]]), ("availability_zone", 5), ("availability_zone", ["az1"]),
    ("availability_zone", {"az": 1}), ("name", 5), ("name", ["vm"]), ("name", None),
    ("imageRef", 5), ("imageRef", ["cirros"]), ("imageRef", {"id": "cirros"}),
    ("flavorRef", ["m1.tiny"]), ("flavorRef", {"id": "m1.tiny"}), ("flavorRef", True),
    ("networks", 5), ("min_count", []), ("max_count", {"n": 2}), ("OS-DCF:diskConfig", 5),
])
def test_create_fields_of_the_wrong_type_are_400(http, field, value):
    refused(create(http, **{field: value}), 400, field)


def test_create_errors_do_not_echo_unbounded_input(http):
    refused(create(http, name=HUGE), 400, "name")
    refused(create(http, imageRef=HUGE), 400, "Image")
    refused(create(http, flavorRef=HUGE), 400, "Flavor")
    refused(create(http, security_groups=[{"name": HUGE}]), 400, "security_groups")
    refused(create(http, networks=[{"uuid": HUGE}]), 400, "networks")
    refused(create(http, user_data=HUGE), 400, "user_data")
    refused(http.post("/v2.1/servers", json={"server": {"name": HUGE}}), 400, "flavorRef")
    refused(http.get("/v2.1/servers", params={"name": "(" + HUGE[:2000]}), 400, "name")
    refused(http.get("/v2.1/servers", params={"marker": HUGE[:2000]}), 400, "marker")


@pytest.mark.parametrize("body,words", [
    ({"migrate": {"host": ["cmp2"]}}, ("host",)),
    ({"os-migrateLive": {"host": {"h": 1}, "block_migration": "auto"}}, ("host",)),
    ({"evacuate": {"host": 5}}, ("host",)),
    ({"rebuild": {"imageRef": ["cirros"]}}, ("imageRef",)),
    ({"rescue": {"rescue_image_ref": {"id": "cirros"}}}, ("rescue_image_ref",)),
    ({"resize": {"flavorRef": ["m1.small"]}}, ("flavorRef",)),
    ({"createImage": {"name": ["snap"]}}, ("name",)),
    ({"reboot": {"type": HUGE}}, ("type",)),
    ({HUGE: None}, ("no such action",)),
    ({"pause": {HUGE: 1}}, ("pause",)),
])
def test_action_bodies_of_the_wrong_type_are_400(http, svc, body, words):
    uuid = svc.engine.instance("vm1")["uuid"]
    refused(http.post(f"/v2.1/servers/{uuid}/action", json=body), 400, *words)


# -- 3: limit and marker ------------------------------------------------------------------
PAGED = [("/v2.1/servers", {}), ("/v2.1/servers/detail", {}), ("/v2.1/flavors", {}),
         ("/v2.1/flavors/detail", {}), ("/v2.1/os-hypervisors", V253),
         ("/v2.1/os-hypervisors/detail", V253), ("/v2.1/os-migrations", LATEST),
         ("/image/v2/images", {})]


@pytest.mark.parametrize("limit", ["\u00b2", "\u0663", "1" * 5000, "1" * 10, "-1", "1.5",
                                   " 1", ""],
                         ids=["superscript", "arabic", "5000-digits", "10-digits", "negative",
                              "float", "space", "empty"])
@pytest.mark.parametrize("path,headers", PAGED)
def test_a_limit_that_is_not_a_small_ascii_integer_is_400(http, path, headers, limit):
    refused(http.get(path, params={"limit": limit}, headers=headers), 400, "limit")


@pytest.mark.parametrize("limit", ["\u00b2", "1" * 5000], ids=["superscript", "5000-digits"])
def test_a_bad_limit_of_instance_actions_is_400(http, svc, limit):
    uuid = svc.engine.instance("vm1")["uuid"]
    refused(http.get(f"/v2.1/servers/{uuid}/os-instance-actions", params={"limit": limit},
                     headers=LATEST), 400, "limit")


def test_a_marker_that_names_nothing_is_400_and_not_echoed_whole(http):
    refused(http.get("/v2.1/flavors", params={"marker": HUGE[:2000]}), 400, "marker")
    refused(http.get("/image/v2/images", params={"marker": HUGE[:2000]}), 400, "marker")


def test_images_limit_zero_is_an_empty_page(http):
    response = http.get("/image/v2/images", params={"limit": "0"})
    assert response.status_code == 200, response.text
    assert response.json()["images"] == [] and "next" not in response.json()


# -- 8: pagination links ------------------------------------------------------------------
NASTY = "a&b=c d/é#?"


@pytest.mark.parametrize("path,headers,links", [
    ("/v2.1/flavors", {}, "flavors_links"), ("/v2.1/servers", {}, "servers_links"),
    ("/v2.1/os-hypervisors", LATEST, "hypervisors_links")])
def test_next_links_url_encode_the_query(http, path, headers, links):
    response = http.get(path, params={"limit": "1", "sort_dir": NASTY}, headers=headers)
    assert response.status_code == 200, response.text
    href = response.json()[links][0]["href"]
    query = parse_qs(urlsplit(href).query, strict_parsing=True)
    assert query["sort_dir"] == [NASTY] and query["limit"] == ["1"]
    assert "marker" in query and set(query) == {"sort_dir", "limit", "marker"}


def test_the_images_next_link_url_encodes_the_query(http):
    response = http.get("/image/v2/images", params={"limit": "1", "sort_dir": NASTY})
    assert response.status_code == 200, response.text
    query = parse_qs(urlsplit(response.json()["next"]).query, strict_parsing=True)
    assert query["sort_dir"] == [NASTY] and query["limit"] == ["1"] and "marker" in query


# -- 4: os-services -----------------------------------------------------------------------
@pytest.mark.parametrize("body,words", [
    ({"host": ["cmp1"], "binary": "nova-compute"}, ("host",)),
    ({"host": {"cmp1": 1}, "binary": "nova-compute"}, ("host",)),
    ({"host": "cmp1", "binary": ["nova-compute"]}, ("binary",)),
    ({"host": "cmp1", "binary": {"b": 1}}, ("binary",)),
    ({"host": HUGE, "binary": "nova-compute"}, ("host",)),
    ({"host": "cmp1", "binary": HUGE}, ("binary",)),
])
def test_v21_service_update_with_the_wrong_types_is_400_or_404(http, body, words):
    response = http.put("/v2.1/os-services/disable", json=body)
    refused(response, 404 if response.status_code == 404 else 400, *words)


@pytest.mark.parametrize("reason", [{"why": "x"}, ["x"], 5, True, "", "r" * 256],
                         ids=["dict", "list", "int", "bool", "empty", "256"])
def test_v21_disable_log_reason_checks_the_reason(http, svc, reason):
    refused(http.put("/v2.1/os-services/disable-log-reason", json={
        "host": "cmp3", "binary": "nova-compute", "disabled_reason": reason}), 400,
        "disabled_reason")
    assert _host(svc, "cmp3")["enabled"]


@pytest.mark.parametrize("reason", [{"why": "x"}, ["x"], 5, True, None, "", "r" * 256],
                         ids=["dict", "list", "int", "bool", "null", "empty", "256"])
def test_v253_disabled_reason_must_be_a_string_of_at_most_255(http, svc, reason):
    sid = _service_id(http, "cmp3")
    refused(http.put(f"/v2.1/os-services/{sid}", headers=V253,
                     json={"status": "disabled", "disabled_reason": reason}),
            400, "disabled_reason")
    assert _host(svc, "cmp3")["enabled"]


def test_v253_a_reason_of_255_is_kept_and_other_fields_are_refused(http, svc):
    sid = _service_id(http, "cmp3")
    refused(http.put(f"/v2.1/os-services/{sid}", headers=V253,
                     json={"status": "disabled", "host": "cmp1"}), 400, "host")
    refused(http.put(f"/v2.1/os-services/{sid}", headers=V253,
                     json={"status": ["disabled"]}), 400, "status")
    try:
        response = http.put(f"/v2.1/os-services/{sid}", headers=V253,
                            json={"status": "disabled", "disabled_reason": "r" * 255})
        assert response.status_code == 200, response.text
        assert response.json()["service"]["disabled_reason"] == "r" * 255
    finally:
        assert http.put(f"/v2.1/os-services/{sid}", headers=V253,
                        json={"status": "enabled"}).status_code == 200


def test_v253_a_service_id_is_not_echoed_whole(http):
    refused(http.put(f"/v2.1/os-services/{HUGE[:2000]}", headers=V253, json={"status": "enabled"}),
            400, "uuid")
    refused(http.get("/v2.1/os-hypervisors", headers=V253,
                     params={"hypervisor_hostname_pattern": HUGE[:2000]}), 404, "hypervisor")


def _service_id(http, host: str) -> str:
    services = http.get("/v2.1/os-services", headers=V253,
                        params={"host": host, "binary": "nova-compute"}).json()["services"]
    return services[0]["id"]


# -- 5: the long poll ---------------------------------------------------------------------
def _unfinished_action(svc: Service, rid: str) -> str:
    uuid = svc.engine.instance("vm2")["uuid"]
    svc.engine.submit(lambda: svc.engine.store.start_action(uuid, "pause", rid)).result()
    return rid


@pytest.mark.parametrize("timeout,status", [("nan", 400), ("NaN", 400), ("abc", 400),
                                            ("-5", 200), ("-inf", 200), ("0", 200)])
def test_a_long_poll_timeout_that_is_not_a_number_of_seconds(svc, timeout, status):
    rid = _unfinished_action(svc, f"req-poll-{timeout}")
    with http_of(svc, timeout=5.0) as http:
        start = time.monotonic()
        response = http.get(f"/novatui/requests/{rid}", params={"timeout": timeout})
        assert time.monotonic() - start < 2.0
    if status == 400:
        refused(response, 400, "timeout")
    else:
        assert response.status_code == 200 and response.json()["action"]["finish_time"] is None


def test_a_long_poll_of_an_unknown_request_does_not_echo_it_whole(http):
    refused(http.get(f"/novatui/requests/{HUGE[:2000]}"), 404, "Request")


def test_a_long_poll_ends_when_the_hub_closes(tmp_path):
    """The service is stopping: the poll answers 503 at once, not after its timeout."""
    svc = start_service(tmp_path)
    try:
        launch(svc.engine, "vm2")
        rid = _unfinished_action(svc, "req-never-finishes")
        answers = []
        with http_of(svc, timeout=30.0) as http:
            poll = threading.Thread(target=lambda: answers.append(http.get(
                f"/novatui/requests/{rid}", params={"timeout": "50"})))
            poll.start()
            time.sleep(0.5)
            hub = svc._runner.app[HUB]
            start = time.monotonic()
            svc._loop.call_soon_threadsafe(hub.close)
            poll.join(10)
            assert not poll.is_alive() and time.monotonic() - start < 2.0
        refused(answers[0], 503, rid)
    finally:
        svc.stop(settle=False)


# -- 6: the domain XML --------------------------------------------------------------------
def test_the_domain_xml_sentences():
    done = concurrent.futures.Future()
    done.set_result("<domain/>")
    empty = concurrent.futures.Future()
    empty.set_result(None)
    failed = concurrent.futures.Future()
    failed.set_exception(RuntimeError("libvirt is gone"))
    assert xml_sentence(None) == "the domain is not defined on a host this service drives"
    assert xml_sentence(done) == "<domain/>"
    assert xml_sentence(empty) == "no domain on the host"
    assert xml_sentence(failed) == "could not read the domain XML: libvirt is gone"
    assert xml_sentence(concurrent.futures.Future(), asyncio.TimeoutError()) == \
        "could not read the domain XML: "


def test_a_busy_host_holds_no_worker_for_the_domain_xml(http, svc, monkeypatch):
    """Many XML reads of a host whose thread is busy: the reads that share the executor
    (every store read of every handler) still answer at once."""
    never = []

    def busy(inst):
        never.append(concurrent.futures.Future())
        return never[-1]
    monkeypatch.setattr(svc.engine, "domain_xml", busy)
    monkeypatch.setattr(ext, "XML_TIMEOUT_SECONDS", 2.0)
    uuid = svc.engine.instance("vm1")["uuid"]
    answers: list[httpx.Response] = []
    with http_of(svc, timeout=30.0) as many:
        readers = [threading.Thread(target=lambda: answers.append(
            many.get(f"/novatui/instances/{uuid}/xml"))) for _ in range(40)]
        for t in readers:
            t.start()
        time.sleep(0.5)
        with http_of(svc, timeout=1.5) as quick:
            assert quick.get("/v2.1/servers").status_code == 200
        for t in readers:
            t.join(20)
    assert len(answers) == 40
    assert {a.json()["xml"] for a in answers} == {"could not read the domain XML: "}
    assert all(f.cancelled() for f in never)
    refused(http.get(f"/novatui/instances/{HUGE[:200]}/xml"), 404)


# -- 7: image uploads ---------------------------------------------------------------------
def test_only_an_image_record_accepts_an_upload(http, svc):
    uuid = svc.engine.instance("vm1")["uuid"]
    snap = svc.engine.submit(svc.engine.images.new_snapshot, "vm1-snap", uuid, "raw").result()
    response = http.put(f"/image/v2/images/{snap['id']}/file", content=b"\0" * 4096,
                        headers={"Content-Type": "application/octet-stream"})
    refused(response, 409, snap["id"])
    assert svc.engine.store.get_image(snap["id"])["status"] == "queued"
    created = http.post("/image/v2/images", json={"name": "up", "disk_format": "raw",
                                                  "container_format": "bare"}).json()
    assert http.put(f"/image/v2/images/{created['id']}/file", content=b"\0" * 4096,
                    headers={"Content-Type": "application/octet-stream"}).status_code == 204


@pytest.mark.parametrize("body,words", [
    ({"name": "i", "disk_format": HUGE}, ("disk_format",)),
    ({"name": "i", "disk_format": ["raw"]}, ("disk_format",)),
    ({"name": "i", "container_format": HUGE}, ("container_format",)),
    ({"name": "i", "hw_disk_bus": {"bus": "virtio"}}, ("hw_disk_bus",)),
    ({"name": HUGE}, ("name",)),
])
def test_image_create_bodies_nova_refuses_are_400(http, body, words):
    refused(http.post("/image/v2/images", json=body), 400, *words)


# -- 9: the client ------------------------------------------------------------------------
@contextmanager
def _client_answering(status: int, body: bytes, content_type: str):
    """An HttpClient of a real server on loopback (a proxy, say) that answers every request
    with this status and body."""
    class Answering(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answering)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = HttpClient(f"http://127.0.0.1:{server.server_port}")
    try:
        yield client
    finally:
        client.close()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status,body,content_type", [
    (200, b"<html>\n<body>maintenance</body>\n</html>", "text/html"),
    (200, b"\xff\xfe not even utf-8", "application/json"),
    (502, b"<html>\n<head><title>502 Bad Gateway</title></head>\n" + b"x" * 5000 + b"\n</html>",
     "text/html"),
    (200, b"[]", "application/json"),
    (200, b"{}", "application/json"),
    (302, b"", "text/html"),
    (200, b"<p>caf\xe9</p>", "text/html; charset=no-such-charset"),
], ids=["200-html", "200-not-utf8", "502-html", "200-list", "200-no-key", "302-empty",
        "200-unknown-charset"])
def test_a_response_that_is_not_novas_json_is_one_line_naming_the_url(status, body,
                                                                      content_type):
    with _client_answering(status, body, content_type) as client:
        with pytest.raises(NovaError) as caught:
            client.hosts()
        message = caught.value.message
        assert f"{client.url}/novatui/hosts" in message, message
        assert str(status) in message and "\n" not in message and len(message) < ECHO_LIMIT


def test_a_503_of_the_service_is_service_unavailable():
    body = b'{"serviceUnavailable": {"code": 503, "message": "stopping"}}'
    with _client_answering(503, body, "application/json") as client:
        with pytest.raises(ServiceUnavailable, match="stopping"):
            client.hosts()


def _host(svc: Service, name: str) -> dict:
    return next(h for h in svc.engine.hosts() if h["name"] == name)
