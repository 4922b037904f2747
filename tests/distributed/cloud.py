"""A deployment as an operator runs one, on this machine: an API/conductor service
(`novatui serve --no-compute`) and a compute agent per host (`novatui compute --host NAME`),
each a process of its own, over the tier's RabbitMQ and PostgreSQL. They share one state dir:
its images and the simulated hosts' node files and disks are the shared storage a real
deployment mounts on every hypervisor.

Requests go through the Compute API (Nova's paths and bodies) on the service's socket."""
from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from tests.conftest import make_config
from tests.distributed.processes import NovatuiProcess
from tests.invariants import check, sha256

START_SECONDS = 30.0
WAIT_SECONDS = 30.0


class Process(NovatuiProcess):
    """One novatui process of the cloud (a service or an agent), its output in
    <root>/NAME.out."""

    def __init__(self, cloud: "Cloud", name: str, *args: str, state_dir: Path | None = None,
                 env: dict | None = None):
        super().__init__(name, cloud.config_path, state_dir or cloud.state_dir, *args,
                         out=cloud.root / f"{name}.out", env=env)


class Api:
    """The Compute API of one service, over its Unix socket."""

    def __init__(self, socket_path: str):
        self.http = httpx.Client(transport=httpx.HTTPTransport(uds=socket_path),
                                 base_url="http://novatui", timeout=30.0)
        self.flavors = {f["name"]: f["id"] for f in self.get("/v2.1/flavors")["flavors"]}
        self.images = {i["name"]: i["id"] for i in self.get("/image/v2/images")["images"]}

    def get(self, path: str) -> dict:
        r = self.http.get(path)
        assert r.status_code == 200, f"GET {path} -> {r.status_code}: {r.text}"
        return r.json()

    def create(self, name: str, flavor: str = "m1.tiny", image: str = "cirros") -> str:
        r = self.http.post("/v2.1/servers", json={"server": {
            "name": name, "flavorRef": self.flavors[flavor], "imageRef": self.images[image]}})
        assert r.status_code == 202, f"create {name} -> {r.status_code}: {r.text}"
        return r.json()["server"]["id"]

    def action(self, uuid: str, body: dict) -> httpx.Response:
        return self.http.post(f"/v2.1/servers/{uuid}/action", json=body)

    def act(self, uuid: str, body: dict) -> None:
        r = self.action(uuid, body)
        assert r.status_code in (200, 202, 204), f"{body} -> {r.status_code}: {r.text}"

    def server(self, uuid: str) -> dict | None:
        r = self.http.get(f"/v2.1/servers/{uuid}")
        return None if r.status_code == 404 else r.json()["server"]

    def wait(self, uuid: str, status: str | None, timeout: float = WAIT_SECONDS) -> dict | None:
        """Until the server has `status` and no task (None: until it is gone)."""
        deadline = time.monotonic() + timeout
        while True:
            server = self.server(uuid)
            if server is None and status is None:
                return None
            if server is not None and server["status"] == status \
                    and server["OS-EXT-STS:task_state"] is None:
                return server
            assert time.monotonic() < deadline, f"{uuid}: wanted {status}, have " + (
                "nothing" if server is None else
                f"{server['status']} / {server['OS-EXT-STS:task_state']}")
            time.sleep(0.05)

    def close(self) -> None:
        self.http.close()


def host_of(server: dict) -> str:
    return server["OS-EXT-SRV-ATTR:host"]


class Cloud:
    """The tier's deployment: `start_api()` and `start_agent(host)` make its processes."""

    HOSTS = ("cmp1", "cmp2")

    def __init__(self, root: Path, database_url: str | None, transport_url: str | None,
                 inventory: Path | None = None):
        """Without the URLs: the embedded store (SQLite in the state dir) and its bus.
        inventory: a hosts.toml to start from (default: the tests' two simulated hosts)."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.root / "state"
        extra = "".join([
            f'\n[database]\nconnection = "{database_url}"\n' if database_url else "",
            f'\n[messaging]\ntransport_url = "{transport_url}"\n' if transport_url else ""])
        self.config_path = self.root / "hosts.toml"
        if inventory is None:
            make_config(self.root)   # two hosts: cmp3's block goes
            text = re.sub(r'\[\[hosts\]\]\nname = "cmp3"\n(?:[^\[\n].*\n)*', "",
                          self.config_path.read_text())
        else:
            text = Path(inventory).read_text()
        self.config_path.write_text(text + extra)
        self.processes: list[Process] = []
        self.agents: dict[str, Process] = {}
        self.apis: list[Api] = []

    def start_api(self, name: str = "api", state_dir: Path | None = None) -> Api:
        proc = Process(self, name, "serve", "--no-compute", state_dir=state_dir)
        self.processes.append(proc)
        api = Api(proc.wait_serving(START_SECONDS))
        self.apis.append(api)
        return api

    def start_agent(self, host: str, env: dict | None = None) -> Process:
        proc = Process(self, f"agent-{host}", "compute", "--host", host, env=env)
        self.processes.append(proc)
        self.agents[host] = proc
        return proc

    def wait_hosts_up(self, api: Api, hosts=HOSTS, timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while True:
            states = {h["hypervisor_hostname"]: h["state"]
                      for h in api.get("/v2.1/os-hypervisors/detail")["hypervisors"]}
            if all(states.get(h) == "up" for h in hosts):
                return
            assert time.monotonic() < deadline, f"hosts not up: {states}"
            time.sleep(0.1)

    def disk(self, uuid: str, host: str) -> Path:
        return self.state_dir / "hosts" / host / "instances" / uuid / "disk"

    def mark_disk(self, uuid: str, host: str) -> str:
        """Bytes only this guest has, written into its disk; the disk's sha256."""
        with open(self.disk(uuid, host), "r+b") as f:
            f.seek(4096)
            f.write(f"data of {uuid}".encode())
        return sha256(self.disk(uuid, host))

    def check(self, expected_sha: dict[str, set[str]] | None = None) -> list[str]:
        return check(self.state_dir, self.config_path, expected_sha)

    def close(self) -> None:
        for api in self.apis:
            api.close()
        for proc in reversed(self.processes):
            proc.stop()
