"""Engine throughput as a deployment runs it, through the Compute API: launch, pause, unpause
and delete 500 instances on 20 simulated hosts, in ops/s, for

  embedded          `novatui serve`, one process: the API, the conductor and every host's
                    compute service, the store in SQLite (a fresh state dir), the store's
                    mailbox as the bus;
  rabbit+postgres   `novatui serve --no-compute` (the API and the conductor) and --agents
                    compute agents (`novatui compute --host A --host B ...`, the hosts split
                    between them), each a process of its own, sharing one state dir (the
                    simulated hosts' files: a deployment's shared storage), the store in a
                    fresh PostgreSQL schema and the casts on RabbitMQ, both private ones from
                    `scripts/services up` on ports of this bench's own;

beside the libvirt floor of bench/engine_ops.py (the same libvirt calls made directly, one
test-driver connection per host, one after another).

Both are driven by the same client: a few threads sending Nova's requests (POST
/v2.1/servers, POST /v2.1/servers/{id}/action {"pause": null} / {"unpause": null}, DELETE
/v2.1/servers/{id}) over the service's Unix socket with httpx, and the service's event stream
(GET /novatui/events) telling when each request (by its x-openstack-request-id) finished. A
phase's rate is its instances over the time from its first request sent to its last request
finished. Medians of --runs runs, each on a fresh state dir (and a fresh schema).

Usage: python bench/deployment.py [--instances 500] [--hosts 20] [--agents 2] [--runs 3]
                                  [--clients 4]
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.engine_ops import PHASES, run_floor, write_inventory  # noqa: E402
from core.config import load_config  # noqa: E402
from core.http_events import sse_messages  # noqa: E402
from tests.distributed.processes import NovatuiProcess, purge_queues  # noqa: E402

SERVICES = ROOT / "scripts" / "services"
# The bench's own services: never the test tier's (5673, 25673, 4370, 5433).
SERVICES_ENV = {"NOVATUI_SERVICES_DIR": "/tmp/bench-services", "NOVATUI_RABBITMQ_PORT": "5683",
                "NOVATUI_RABBITMQ_DIST_PORT": "25683", "NOVATUI_EPMD_PORT": "4375",
                "NOVATUI_POSTGRES_PORT": "5453", "NOVATUI_RABBITMQ_NODE": "benchnova@localhost"}
START_SECONDS = 60.0
PHASE_SECONDS = 600.0
BODIES = {"pause": {"pause": None}, "unpause": {"unpause": None}}
SETTLED = {"launch": "ACTIVE", "pause": "PAUSED", "unpause": "ACTIVE"}


# -- processes ---------------------------------------------------------------------------
def start_process(name: str, config: Path, state_dir: Path, *args: str) -> NovatuiProcess:
    """One novatui process, its output in a file of its own beside the state dir."""
    return NovatuiProcess(name, config, state_dir, *args, out=state_dir.parent / f"{name}.out")


# -- the client --------------------------------------------------------------------------
class Finished:
    """The service's event stream, read on a thread: which requests have finished."""

    def __init__(self, socket_path: str):
        self.http = httpx.Client(transport=httpx.HTTPTransport(uds=socket_path),
                                 base_url="http://novatui", timeout=httpx.Timeout(30, read=None))
        self.done: dict[str, tuple[bool, str | None]] = {}
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.error: BaseException | None = None
        self._response = None
        self._thread = threading.Thread(target=self._read, daemon=True, name="bench-events")
        self._thread.start()

    def _read(self) -> None:
        import json
        try:
            with self.http.stream("GET", "/novatui/events") as response:
                self._response = response
                for event, data in sse_messages(response.iter_lines()):
                    if event == "snapshot":
                        self.connected.set()
                    elif event == "batch":
                        ends = [i for i in json.loads(data) if i.get("type") == "finished"]
                        if ends:
                            with self.cond:
                                for i in ends:
                                    self.done[i["request_id"]] = (i["ok"], i["message"])
                                self.cond.notify_all()
        except BaseException as e:  # noqa: BLE001 - told to the waiter
            self.error = e
        finally:
            with self.cond:
                self.cond.notify_all()

    def wait(self, request_ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                missing = [r for r in request_ids if r not in self.done]
                if not missing:
                    break
                if self.error is not None:
                    raise RuntimeError(f"the event stream ended: {self.error!r}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(missing)} of {len(request_ids)} requests unfinished")
                self.cond.wait(min(1.0, deadline - time.monotonic()))
        failed = [(r, self.done[r][1]) for r in request_ids if not self.done[r][0]]
        if failed:
            raise RuntimeError(f"{len(failed)} requests failed, e.g. {failed[0]}")

    def close(self) -> None:
        try:
            if self._response is not None:
                self._response.close()
        except Exception:  # noqa: BLE001 - closing a stream the service may have ended
            pass
        self.http.close()


class Driver:
    """`clients` HTTP clients of one service's socket, and its event stream."""

    def __init__(self, socket_path: str, clients: int):
        self.https = [httpx.Client(transport=httpx.HTTPTransport(uds=socket_path),
                                   base_url="http://novatui", timeout=60.0)
                      for _ in range(clients)]
        self.pool = ThreadPoolExecutor(clients)
        self.events = Finished(socket_path)
        if not self.events.connected.wait(START_SECONDS):
            raise RuntimeError("no snapshot on the event stream")
        self.flavor = {f["name"]: f["id"] for f in self.get("/v2.1/flavors")["flavors"]}["m1.tiny"]
        self.image = {i["name"]: i["id"] for i in self.get("/image/v2/images")["images"]}["cirros"]

    def get(self, path: str) -> dict:
        r = self.https[0].get(path)
        r.raise_for_status()
        return r.json()

    def wait_hosts_up(self, hosts: list[str]) -> None:
        deadline = time.monotonic() + START_SECONDS
        while True:
            states = {h["hypervisor_hostname"]: h["state"]
                      for h in self.get("/v2.1/os-hypervisors/detail")["hypervisors"]}
            if all(states.get(h) == "up" for h in hosts):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"hosts not up: {states}")
            time.sleep(0.2)

    def _send(self, http: httpx.Client, phase: str, items: list[str]) -> list[tuple[str, str]]:
        """(request id, server id) of each request sent, one after another."""
        sent = []
        for item in items:
            if phase == "launch":
                r = http.post("/v2.1/servers", json={"server": {
                    "name": item, "flavorRef": self.flavor, "imageRef": self.image}})
            elif phase == "delete":
                r = http.delete(f"/v2.1/servers/{item}")
            else:
                r = http.post(f"/v2.1/servers/{item}/action", json=BODIES[phase])
            if r.status_code not in (202, 204):
                raise RuntimeError(f"{phase} {item} -> {r.status_code}: {r.text}")
            uuid = r.json()["server"]["id"] if phase == "launch" else item
            sent.append((r.headers["x-openstack-request-id"], uuid))
        return sent

    def phase(self, phase: str, items: list[str]) -> tuple[float, list[str]]:
        """(ops/s, server ids): every request sent by the clients, then every one finished."""
        n = len(self.https)
        shares = [items[i::n] for i in range(n)]
        start = time.perf_counter()
        sent = [s for part in self.pool.map(lambda k: self._send(self.https[k], phase, shares[k]),
                                            range(n)) for s in part]
        self.events.wait([rid for rid, _ in sent], PHASE_SECONDS)
        rate = len(items) / (time.perf_counter() - start)
        return rate, [uuid for _, uuid in sent]

    def check_settled(self, phase: str, count: int) -> None:
        servers = self.get("/v2.1/servers/detail")["servers"]
        if phase == "delete":
            if servers:
                raise RuntimeError(f"after delete: {len(servers)} servers left")
            return
        wrong = [s for s in servers if s["status"] != SETTLED[phase]
                 or s["OS-EXT-STS:task_state"] is not None]
        if len(servers) != count or wrong:
            raise RuntimeError(f"after {phase}: {len(servers)} servers, {len(wrong)} not settled")

    def run(self, n: int) -> dict[str, float]:
        rates = {}
        rates["launch"], uuids = self.phase("launch", [f"vm{i:04d}" for i in range(n)])
        self.check_settled("launch", n)
        for phase in PHASES[1:]:
            rates[phase], _ = self.phase(phase, uuids)
            self.check_settled(phase, n)
        return rates

    def close(self) -> None:
        self.events.close()
        self.pool.shutdown()
        for http in self.https:
            http.close()


def measure(procs: list[NovatuiProcess], api: NovatuiProcess, state_dir: Path, hosts: list[str], n: int,
            clients: int) -> dict[str, float]:
    driver = None
    try:
        socket_path = api.wait_serving(START_SECONDS)
        driver = Driver(socket_path, clients)
        driver.wait_hosts_up(hosts)
        return driver.run(n)
    except BaseException:
        for proc in procs:
            print(f"--- {proc.name} ({proc.out}):\n{proc.tail()}", file=sys.stderr)
        raise
    finally:
        if driver is not None:
            driver.close()
        for proc in reversed(procs):
            proc.stop()


# -- the two modes -----------------------------------------------------------------------
def run_embedded(root: Path, hosts: int, n: int, clients: int) -> dict[str, float]:
    config = write_inventory(root / "hosts.toml", hosts)
    state_dir = root / "state"
    api = start_process("serve", config, state_dir, "serve")
    names = [h.name for h in load_config(config).hosts]
    return measure([api], api, state_dir, names, n, clients)


class Services:
    """scripts/services on the bench's ports: started here unless already up (then left)."""

    def __init__(self):
        self.env = {**os.environ, **SERVICES_ENV}
        self.dir = Path(SERVICES_ENV["NOVATUI_SERVICES_DIR"])
        self.started = False
        self.urls: dict[str, str] = {}

    def _script(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run([str(SERVICES), *args], cwd=ROOT, env=self.env, text=True,
                              capture_output=True, timeout=timeout)

    def up(self) -> None:
        already = self._script("status", timeout=60).returncode == 0
        t = time.perf_counter()
        done = self._script("up")
        if done.returncode != 0:
            raise RuntimeError(f"scripts/services up failed:\n{done.stdout}{done.stderr}")
        self.started = not already
        print(f"services: {'already up' if already else 'started'} in "
              f"{time.perf_counter() - t:.0f} s ({self.dir})", file=sys.stderr)
        for line in (self.dir / "services.env").read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                self.urls[key] = value

    def down(self) -> None:
        if self.started:
            self._script("down", timeout=300)

    @property
    def transport_url(self) -> str:
        return self.urls["NOVATUI_TRANSPORT_URL"]

    def admin(self):
        from sqlalchemy import create_engine
        return create_engine("postgresql+psycopg://"
                             + self.urls["NOVATUI_DATABASE_URL"].split("://", 1)[1])



def run_deployed(root: Path, services: Services, hosts: int, agents: int, n: int,
                 clients: int) -> dict[str, float]:
    from sqlalchemy import text
    schema = f"bench_{uuidlib.uuid4().hex[:10]}"
    admin = services.admin()
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        base = services.urls["NOVATUI_DATABASE_URL"]
        url = f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"
        config = write_inventory(root / "hosts.toml", hosts)
        with config.open("a") as f:
            f.write(f'\n[database]\nconnection = "{url}"\n\n'
                    f'[messaging]\ntransport_url = "{services.transport_url}"\n')
        names = [h.name for h in load_config(config).hosts]
        purge_queues("amqp://" + services.transport_url.split("://", 1)[1],
                     ["conductor", *(f"compute.{h}" for h in names)])
        state_dir = root / "state"
        api = start_process("api", config, state_dir, "serve", "--no-compute")
        procs = [api]
        try:
            api.wait_serving(START_SECONDS)   # it makes the images the agents' launches copy
        except BaseException:
            api.stop()
            raise
        size = -(-len(names) // agents)
        for k in range(agents):
            share = names[k * size:(k + 1) * size]
            procs.append(start_process(f"agent{k}", config, state_dir, "compute",
                              *(a for h in share for a in ("--host", h))))
        return measure(procs, api, state_dir, names, n, clients)
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def floor(root: Path, hosts: int, n: int) -> dict[str, float]:
    config = load_config(write_inventory(root / "hosts.toml", hosts))
    return run_floor(config, root / "floor", n, host_work=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--instances", type=int, default=500)
    p.add_argument("--hosts", type=int, default=20)
    p.add_argument("--agents", type=int, default=2, help="compute agents sharing the hosts")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--clients", type=int, default=4, help="client threads sending requests")
    args = p.parse_args()
    if not 1 <= args.agents <= args.hosts:
        p.error("--agents must be between 1 and --hosts")
    load = [os.getloadavg()]
    results: dict[str, list[dict[str, float]]] = {"embedded": [], "deployed": [], "floor": []}
    services = Services()
    started = time.perf_counter()
    try:
        services.up()
        for run in range(args.runs):
            for mode in ("embedded", "deployed", "floor"):
                with tempfile.TemporaryDirectory(prefix=f"novatui-bench-{mode}-") as tmp:
                    t = time.perf_counter()
                    if mode == "embedded":
                        rates = run_embedded(Path(tmp), args.hosts, args.instances, args.clients)
                    elif mode == "deployed":
                        rates = run_deployed(Path(tmp), services, args.hosts, args.agents,
                                             args.instances, args.clients)
                    else:
                        rates = floor(Path(tmp), args.hosts, args.instances)
                results[mode].append(rates)
                load.append(os.getloadavg())
                print(f"run {run + 1} {mode:<8} " + "  ".join(f"{ph} {rates[ph]:6.0f}/s"
                                                             for ph in PHASES)
                      + f"  ({time.perf_counter() - t:.0f} s; load {load[-1][0]:.2f})",
                      file=sys.stderr)
    finally:
        services.down()
    med = {mode: {ph: statistics.median(r[ph] for r in runs) for ph in PHASES}
           for mode, runs in results.items()}
    print(f"$ {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"{args.instances} instances on {args.hosts} simulated hosts (libvirt test driver), "
          f"through the Compute API over the Unix socket, {args.clients} client threads; "
          f"rabbit+postgres: serve --no-compute + {args.agents} agents of "
          f"{-(-args.hosts // args.agents)} hosts; medians of {args.runs} runs, ops/s")
    print(f"{'phase':<8} | {'embedded':>9} | {'rabbit+postgres':>15} | {'libvirt floor':>13}")
    for ph in PHASES:
        print(f"{ph:<8} | {med['embedded'][ph]:>9.0f} | {med['deployed'][ph]:>15.0f} | "
              f"{med['floor'][ph]:>13.0f}")
    print(f"{time.perf_counter() - started:.0f} s in all; load average (1 min) "
          f"{min(x[0] for x in load):.2f}-{max(x[0] for x in load):.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
