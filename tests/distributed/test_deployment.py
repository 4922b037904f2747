"""novatui deployed as Nova is: an API/conductor service and a compute agent per host, each a
process of its own, over RabbitMQ and PostgreSQL (tests/distributed/cloud.py). The lifecycle
through the Compute API; an agent killed with SIGKILL in the middle of a cold migration; a
RabbitMQ restart with casts in flight; two API services on one database."""
from __future__ import annotations

import threading
import time

from core.cli import attach
from core.events import LogEmitted
from tests.distributed.cloud import host_of
from tests.invariants import cli_env, sha256

CONFLICT_TRIES = 100


def test_the_lifecycle_through_the_compute_api(cloud):
    api = cloud.start_api()
    agents = {h: cloud.start_agent(h) for h in cloud.HOSTS}
    cloud.wait_hosts_up(api)
    console = attach(f"unix:{cloud.state_dir / 'api.sock'}", read_only=True)
    lines: list = []
    console.subscribe(lambda e: lines.append(e.line) if isinstance(e, LogEmitted) else None)
    try:
        uuid = api.create("vm1")
        server = api.wait(uuid, "ACTIVE")
        # A call: the API asks the agent that drives the host for the guest's XML.
        xml = api.get(f"/novatui/instances/{uuid}/xml")["xml"]
        assert xml.startswith("<domain") and f"<uuid>{uuid}</uuid>" in xml, xml
        for body, status in (({"pause": None}, "PAUSED"), ({"unpause": None}, "ACTIVE"),
                             ({"os-stop": None}, "SHUTOFF"), ({"os-start": None}, "ACTIVE")):
            api.act(uuid, body)
            api.wait(uuid, status)
        source = host_of(server)
        sha = cloud.mark_disk(uuid, source)
        api.act(uuid, {"migrate": None})
        moved = api.wait(uuid, "VERIFY_RESIZE")
        assert host_of(moved) != source
        api.act(uuid, {"confirmResize": None})
        assert host_of(api.wait(uuid, "ACTIVE")) != source
        assert sha256(cloud.disk(uuid, host_of(moved))) == sha
        api.act(uuid, {"resize": {"flavorRef": api.flavors["m1.small"]}})
        api.wait(uuid, "VERIFY_RESIZE")
        api.act(uuid, {"revertResize": None})
        reverted = api.wait(uuid, "ACTIVE")
        assert str(reverted["flavor"]["id"]) == str(api.flavors["m1.tiny"])
        assert host_of(reverted) == host_of(moved)
        api.act(uuid, {"shelve": None})
        api.wait(uuid, "SHELVED_OFFLOADED")
        api.act(uuid, {"unshelve": None})
        api.wait(uuid, "ACTIVE")
        assert cloud.check() == []
        r = api.http.delete(f"/v2.1/servers/{uuid}")
        assert r.status_code == 204, r.text
        api.wait(uuid, None)
        # The console attached to the API saw both agents' n-cpu lines, as they logged them.
        deadline = time.monotonic() + 5
        while {ln.pid for ln in lines if ln.service == "n-cpu"} < {a.pid for a in agents.values()}:
            assert time.monotonic() < deadline, {(ln.host, ln.pid) for ln in lines}
            time.sleep(0.05)
        assert {ln.host for ln in lines if ln.service == "n-cpu"} == set(cloud.HOSTS)
        assert any(ln.message == "Pausing" and ln.instance == uuid for ln in lines)
    finally:
        console.close()
    assert cloud.check() == []


def test_an_agent_killed_mid_cold_migration_ends_consistent(cloud):
    api = cloud.start_api()
    for h in cloud.HOSTS:
        cloud.start_agent(h)
    cloud.wait_hosts_up(api)
    uuid = api.create("mover")
    source = host_of(api.wait(uuid, "ACTIVE"))
    sha = cloud.mark_disk(uuid, source)
    # The source agent dies (SIGKILL, no cleanup) once the disk is copied to the destination.
    cloud.agents[source].stop()
    doomed = cloud.start_agent(source, env=cli_env(NOVATUI_CRASH_AT="compute.resize_instance:copied"))
    cloud.wait_hosts_up(api)
    api.act(uuid, {"migrate": None})
    doomed.proc.wait(30)
    assert doomed.proc.returncode == -9, doomed.output()
    cloud.start_agent(source)   # its start recovers what the dead one left
    server = api.wait(uuid, "VERIFY_RESIZE")
    dest = host_of(server)
    assert dest != source
    assert sha256(cloud.disk(uuid, dest)) == sha
    assert cloud.check({uuid: {sha}}) == []
    api.act(uuid, {"revertResize": None})
    assert host_of(api.wait(uuid, "ACTIVE")) == source
    assert sha256(cloud.disk(uuid, source)) == sha
    hyp = {h["hypervisor_hostname"]: h for h in api.get("/v2.1/os-hypervisors/detail")["hypervisors"]}
    assert hyp[dest]["vcpus_used"] == 0 and hyp[dest]["memory_mb_used"] == 0  # its claim is freed
    assert cloud.check({uuid: {sha}}) == []


def test_a_rabbitmq_restart_loses_no_cast_and_runs_none_twice(cloud, services):
    api = cloud.start_api()
    for h in cloud.HOSTS:
        cloud.start_agent(h)
    cloud.wait_hosts_up(api)
    uuids = [api.create(f"vm{i}") for i in range(6)]
    for uuid in uuids:
        api.wait(uuid, "ACTIVE")
    for agent in cloud.agents.values():   # casts wait in RabbitMQ's queues, not in a consumer
        agent.stop()
    for uuid in uuids[:3]:
        api.act(uuid, {"pause": None})
    services.restart_rabbitmq()
    for uuid in uuids[3:]:               # the API's publisher finds the broker back, or not
        api.act(uuid, {"pause": None})
    for h in cloud.HOSTS:
        cloud.start_agent(h)
    for uuid in uuids:
        api.wait(uuid, "PAUSED", timeout=60)
    text = "\n".join(p.read_text() for p in (cloud.state_dir / "logs").glob("n-cpu*.log"))
    for uuid in uuids:   # each pause ran once: one "Pausing" line, one finished action
        assert text.count(f"[instance: {uuid}] Pausing") == 1, uuid
        actions = api.get(f"/v2.1/servers/{uuid}/os-instance-actions")["instanceActions"]
        assert [a["action"] for a in actions].count("pause") == 1
    assert cloud.check() == []


def test_two_api_services_on_one_database_accept_one_of_two_conflicting_actions(cloud):
    first = cloud.start_api("api1")
    second = cloud.start_api("api2", state_dir=cloud.root / "state2")
    for h in cloud.HOSTS:
        cloud.start_agent(h)
    cloud.wait_hosts_up(first)
    uuid = first.create("contested")
    first.wait(uuid, "ACTIVE")
    undo = {"pause": ({"unpause": None}, "PAUSED"), "suspend": ({"resume": None}, "SUSPENDED")}
    for _ in range(CONFLICT_TRIES):
        barrier = threading.Barrier(2)
        answers: dict[str, int] = {}

        def send(api, action):
            barrier.wait()
            answers[action] = api.action(uuid, {action: None}).status_code

        threads = [threading.Thread(target=send, args=(api, action))
                   for api, action in ((first, "pause"), (second, "suspend"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accepted = [a for a, code in answers.items() if code == 202]
        assert len(accepted) == 1 and sorted(answers.values()) == [202, 409], answers
        back, status = undo[accepted[0]]
        first.wait(uuid, status)
        first.act(uuid, back)
        first.wait(uuid, "ACTIVE")
    assert cloud.check() == []
