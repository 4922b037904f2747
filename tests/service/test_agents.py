"""Agents with no broker: `novatui serve --no-compute` and a `novatui compute --host` per
host, separate processes sharing the embedded store (SQLite in one state dir) and its bus.
Casts reach the agents through the store's mailbox; what the agents do reaches a console
attached to the service through the store and the log files."""
from __future__ import annotations

import time

from core.cli import attach
from core.events import InstanceChanged, LogEmitted
from tests.distributed.cloud import Cloud, host_of


def test_agents_sharing_the_embedded_store(tmp_path):
    cloud = Cloud(tmp_path, None, None)
    try:
        api = cloud.start_api()
        agents = {h: cloud.start_agent(h) for h in cloud.HOSTS}
        cloud.wait_hosts_up(api)
        console = attach(f"unix:{cloud.state_dir / 'api.sock'}", read_only=True)
        seen: list = []
        console.subscribe(seen.append)
        try:
            uuid = api.create("vm1")
            source = host_of(api.wait(uuid, "ACTIVE"))
            api.act(uuid, {"pause": None})
            api.wait(uuid, "PAUSED")
            api.act(uuid, {"unpause": None})
            api.wait(uuid, "ACTIVE")
            api.act(uuid, {"migrate": None})
            assert host_of(api.wait(uuid, "VERIFY_RESIZE")) != source
            api.act(uuid, {"confirmResize": None})
            api.wait(uuid, "ACTIVE")
            deadline = time.monotonic() + 5
            while not ({ln.line.pid for ln in seen if isinstance(ln, LogEmitted)}
                       >= {a.pid for a in agents.values()}
                       and any(isinstance(e, InstanceChanged) and e.instance["uuid"] == uuid
                               and e.instance["vm_state"] == "paused" for e in seen)):
                assert time.monotonic() < deadline, "the console did not see the agents' work"
                time.sleep(0.05)
        finally:
            console.close()
        # An agent that stops is down at once (its last heartbeat says so).
        cloud.agents["cmp1"].stop()
        hyp = {h["hypervisor_hostname"]: h["state"]
               for h in api.get("/v2.1/os-hypervisors/detail")["hypervisors"]}
        assert hyp == {"cmp1": "down", "cmp2": "up"}
        assert cloud.check() == []
    finally:
        cloud.close()
