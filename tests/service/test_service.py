"""`novatui serve`: one service per state dir, found by the CLI and the console, on a 0600
Unix socket; a token for any address but loopback; SIGTERM stops it cleanly; a kill -9 in
the middle of a migration loses nothing, and clients reconnect by themselves."""
from __future__ import annotations

import json
import stat
import time

import httpx
import pytest

from core.events import ServiceBack, ServiceLost, Snapshot
from core.http_client import HttpClient
from core.service import find_service
from tests.conftest import make_config
from tests.crash.conftest import Cloud
from tests.invariants import assert_ok, cli, cli_env
from tests.service.process import ServeProcess, free_port


@pytest.fixture
def cloud(tmp_path):
    make_config(tmp_path)
    return Cloud(tmp_path / "hosts.toml", tmp_path / "state")


def serve(cloud, *args, env=None) -> ServeProcess:
    return ServeProcess(cloud.config_path, cloud.dir, *args, env=env)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_serve_writes_its_addresses_privately_and_the_cli_goes_through_it(cloud):
    port = free_port()
    svc = serve(cloud, "--listen", f"127.0.0.1:{port}")
    try:
        found = svc.start()
        assert found["url"] == f"http://127.0.0.1:{port}"
        assert mode(cloud.dir / "api.sock") == 0o600 and mode(cloud.dir / "service.json") == 0o600
        assert mode(cloud.dir) == 0o700
        again = serve(cloud).run()
        assert again.returncode == 2 and again.stderr.count("\n") == 1
        assert f"a novatui service already runs for {cloud.dir} (pid {svc.proc.pid})" in again.stderr
        cloud.ok("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "web")
        cloud.ok("server", "pause", "web")
        uuid = cloud.instance("web")["uuid"]
        api = (cloud.dir / "logs" / "n-api.log").read_text()
        # the request came over the socket: the service wrote its real access line
        line = next(ln for ln in api.splitlines() if f'"POST /v2.1/servers/{uuid}/action HTTP/1.1"' in ln)
        assert f" {svc.proc.pid} INFO nova.osapi_compute.wsgi.server " in line and "status: 202" in line
        assert cloud.instance("web")["vm_state"] == "paused"
        refused = cloud.run("server", "pause", "web")
        assert refused.returncode == 2
        assert refused.stderr == (f"novatui: Cannot 'pause' instance {uuid} while it is in "
                                  "vm_state paused\n")
        assert svc.terminate() == 0
        assert find_service(cloud.dir) is None and not (cloud.dir / "api.sock").exists()
        assert not (cloud.dir / "service.json").exists()
    finally:
        svc.close()
    assert_ok(cloud.dir, cloud.config_path)


def test_only_loopback_goes_without_a_token(cloud):
    port = free_port()
    refused = serve(cloud, "--listen", f"0.0.0.0:{port}").run()
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert f"refusing to listen on 0.0.0.0:{port} without a token" in refused.stderr
    bad = serve(cloud, "--listen", "localhost:http").run()
    assert bad.returncode == 2 and "expected HOST:PORT" in bad.stderr
    svc = serve(cloud, "--listen", f"0.0.0.0:{port}", "--token")
    try:
        found = svc.start()
        admin = (cloud.dir / "api-token").read_text().strip()
        reader = (cloud.dir / "api-token-read-only").read_text().strip()
        assert mode(cloud.dir / "api-token") == 0o600 == mode(cloud.dir / "api-token-read-only")
        url = f"http://127.0.0.1:{port}"  # the service listens everywhere; we stay on loopback
        r = httpx.get(f"{url}/novatui/info")
        assert r.status_code == 401 and r.json()["unauthorized"]["code"] == 401
        assert httpx.get(f"{url}/novatui/info", headers={"X-Auth-Token": "wrong"}).status_code == 401
        assert httpx.get(f"{url}/novatui/info", headers={"X-Auth-Token": admin}).status_code == 200
        ro = httpx.put(f"{url}/v2.1/os-services/x", json={"status": "disabled"},
                       headers={"X-Auth-Token": reader})
        assert ro.status_code == 403 and "read-only" in ro.json()["forbidden"]["message"]
        local = httpx.Client(transport=httpx.HTTPTransport(uds=found["socket"]),
                             base_url="http://localhost")
        assert local.get("/novatui/info").status_code == 200  # the 0600 socket needs none
        local.close()
        env = cli_env(NOVATUI_URL=url, NOVATUI_TOKEN=reader)
        p = cli(cloud.config_path, cloud.dir, "host", "disable", "cmp1", env=env)
        assert p.returncode == 2 and "read-only" in p.stderr and p.stderr.count("\n") == 1
        p = cli(cloud.config_path, cloud.dir, "host", "list", "-f", "json", env=env)
        assert p.returncode == 0 and {h["name"] for h in json.loads(p.stdout)} == {"cmp1", "cmp2", "cmp3"}
    finally:
        svc.terminate()
        svc.close()


def _events(client: HttpClient) -> list:
    seen: list = []
    client.subscribe(seen.append)
    return seen


def _until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def test_kill_9_in_the_middle_of_a_migration_loses_nothing_and_clients_reconnect(cloud):
    crashing = serve(cloud, env=cli_env(NOVATUI_CRASH_AT="compute.resize_instance:copied"))
    found = crashing.start()
    client = HttpClient(f"unix:{found['socket']}", socket_path=found["socket"])
    events = _events(client)
    try:
        uuid, sha = cloud.create("mover")
        source = cloud.instance("mover")["host"]
        p = cloud.run("server", "migrate", "mover")
        crashing.wait(30)
        assert crashing.proc.returncode == -9           # died between copy and finish
        assert p.returncode != 0 and p.stderr.count("\n") == 1, p.stderr
        _until(lambda: any(isinstance(e, ServiceLost) for e in events), 10, "ServiceLost")
        mid = cloud.instance("mover")
        assert mid["task_state"] is not None and mid["host"] == source
        restarted = serve(cloud)
        try:
            restarted.start()
            _until(lambda: any(isinstance(e, ServiceBack) for e in events), 15, "ServiceBack")
            assert isinstance(events[events.index(next(e for e in events if isinstance(e, ServiceBack))) + 1],
                              Snapshot)
            # the restarted service resumes the move from its migration record
            _until(lambda: cloud.instance("mover")["vm_state"] == "resized", 30, "resized")
            cloud.ok("server", "resize", "confirm", "mover")
            moved = cloud.instance("mover")
            assert moved["host"] != source and moved["task_state"] is None
            assert restarted.terminate() == 0
        finally:
            restarted.close()
    finally:
        client.close()
        crashing.close()
    assert_ok(cloud.dir, cloud.config_path, {uuid: {sha}})


def test_evacuate_follows_the_microversion_asked_for(tmp_path):
    """Before 2.95 an evacuated instance comes back ACTIVE; from 2.95 it arrives STOPPED."""
    from core.engine import Engine
    from core.service import Service
    from tests.conftest import launch
    engine = Engine(make_config(tmp_path), tmp_path / "state").start()
    service = Service(engine).start()
    http = httpx.Client(transport=httpx.HTTPTransport(uds=str(service.socket_path)),
                        base_url="http://localhost")
    try:
        old, new = launch(engine, "old"), launch(engine, "new")
        for inst in (old, new):
            engine.submit(engine.api.set_host, inst["host"], False, "dead", True).result()
        ended = {}
        for inst, version in ((old, "2.94"), (new, "2.95")):
            r = http.post(f"/v2.1/servers/{inst['uuid']}/action", json={"evacuate": {}},
                          headers={"OpenStack-API-Version": f"compute {version}"})
            assert r.status_code == 200 and r.headers["OpenStack-API-Version"] == f"compute {version}"
            engine.wait(r.headers["x-openstack-request-id"], 30)
            ended[inst["name"]] = engine.instance(inst["uuid"])["vm_state"]
        assert ended == {"old": "active", "new": "stopped"}
        assert http.get("/v2.1").json()["version"]["version"] == "2.96"
        r = http.get("/v2.1/servers", headers={"OpenStack-API-Version": "compute 2.97"})
        assert r.status_code == 406 and "maximum is 2.96" in r.text
    finally:
        http.close()
        service.stop()
