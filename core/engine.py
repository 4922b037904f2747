"""The engine: the store, the bus, the API, the conductor and one compute service per host,
each on its own thread. Callers (CLI, console) use this small thread-safe surface: submit
requests, wait for them, read state, and subscribe to events. No libvirt call ever runs on a
caller's thread.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from .api import API, Request
from .bus import CONDUCTOR, compute_topic, make_bus
from .compute import CLEANUPS, ComputeManager
from .conductor import Conductor
from .config import Config
from .errors import HostOwned, NotFound, NovaError
from .engine_events import EventFanout
from .hostlock import HostLock, claimed_here, owner_id, pid_alive
from .hosts import host_liveness, host_views
from .images import ImageStore
from .logs import LogSink, ServiceLog
from .statedir import check_store_matches_hosts, prepare_state_dir
from .store import Store
from .virt import make_driver, start_event_loop

ADOPT_SECONDS = 0.5
XML_CALL_SECONDS = 10.0   # as long as core.client.domain_xml waits


def waiting_line(rows: list[dict]) -> str:
    """What a process that settles before it exits tells its user."""
    names = ", ".join(f"{r['name']} ({r['action']}, {r['task_state'] or 'cleaning up'} on "
                      f"{r['host']})" for r in rows)
    return f"novatui: waiting for {names} to reach a resting state before exiting"


class HostUnreachable(NovaError):
    """A request waits on a host that this process drives and cannot reach."""


class Engine(EventFanout):
    """own: "all" (every host, or fail naming the owner), "free" (the hosts no other process
    drives, and any that another process lets go while this one runs; the others are reached
    through the shared bus) or "none" (an API client). A read-only engine owns nothing and
    opens the store read-only: it cannot drive a host or write the store.

    hosts: the inventory hosts this process may drive (None: every one), so that
    `novatui compute --host NAME` is one host's agent and `serve --no-compute` drives none;
    conductor: whether it runs a conductor (an agent does not)."""

    def __init__(self, config: Config, state_dir: str | Path, read_only: bool = False,
                 own: str = "all", hosts: tuple[str, ...] | None = None, conductor: bool = True):
        self.config = config
        self.state_dir = Path(state_dir)
        self.read_only = read_only
        self.own = "none" if read_only else own
        self.host_names = tuple(h.name for h in config.hosts) if hosts is None else tuple(hosts)
        self.runs_conductor = conductor and self.own != "none"
        self.owner_id = owner_id()
        self._init_events()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._locks: list[HostLock] = []
        self._own_lock = threading.Lock()
        self.computes: dict[str, ComputeManager] = {}
        self.started = False

    # -- life cycle --------------------------------------------------------------------
    def start(self, ready_timeout: float = 30.0) -> "Engine":
        self.state_dir = prepare_state_dir(self.state_dir, self.read_only)
        start_event_loop()
        self.store = Store(self.config.database_connection or self.state_dir / "novatui.db",
                           read_only=self.read_only,
                           on_fresh=lambda: check_store_matches_hosts(True, self.config, self.state_dir))
        self.sink = LogSink(self.state_dir / "logs", emit=self._on_log, read_only=self.read_only)
        broker_log = ServiceLog(self.sink, "n-sch" if self.runs_conductor else "n-cpu",
                                "oslo.messaging._drivers.impl_rabbit")
        # An agent has nobody to tell what the others do: it takes no notifications.
        self.bus = make_bus(self.config.transport_url, self.store, self.owner_id,
                            self._on_remote if self.runs_conductor or self.own == "none" else None,
                            broker_log.log)
        self._publish = self.bus.transport != "store" and not self.read_only
        self.images = ImageStore(self.store, self.state_dir / "images", self.read_only)
        if not self.read_only and self.runs_conductor:   # an API's work, not an agent's
            self.images.finish_deletes()
            self.images.ensure_configured(self.config.images)
        self.api = API(self.config, self.store, self.bus, self.images, self.sink, self._notify,
                       self.read_only)
        self._api_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="novatui-api")
        self._api_lock = threading.Lock()
        try:
            self._own_hosts()
        except Exception:
            self._release_locks()
            raise
        self._spawn("hosts", self._host_emitter)
        for name, mgr in self.computes.items():
            self._spawn(f"compute-{name}", mgr.serve)
        if self.runs_conductor:
            self._requeue_dead_conductor_claims()
            self.conductor = Conductor(self.config, self.store, self.bus, self.sink, self._notify)
            self._spawn("conductor", self.conductor.serve)
        if self.own == "free":
            self._spawn("adopt", self._adopt_freed_hosts)
        if self.runs_conductor and self.bus.transport == "store" and \
                len(self.host_names) < len(self.config.hosts):
            # Agents of the other hosts share the store and the log files, and no broker
            # carries their notifications: the service reads what they did.
            from .store_watch import watch_store
            self._spawn("watch", lambda stop: watch_store(
                self.store, self.state_dir / "logs", self._remote_event,
                lambda: bool(self._listeners), stop))
        deadline = time.monotonic() + ready_timeout
        for mgr in list(self.computes.values()):
            mgr.ready.wait(max(0.0, deadline - time.monotonic()))
        self.started = True
        return self

    def _own_hosts(self) -> None:
        if self.own == "none":
            return
        for host in self._drivable():
            owner = self._try_own(host)
            if owner is not None and self.own == "all":
                raise HostOwned(f"host {host.name} is in use by another novatui process "
                                f"(pid {owner}); stop it or use another --state-dir")

    def _drivable(self) -> list:
        return [h for h in self.config.hosts if h.name in self.host_names]

    def _try_own(self, host) -> int | None:
        """Take a host's lock and make its compute service; None on success, else the pid
        that holds it."""
        lock = HostLock(self.state_dir / "hosts" / host.name / "owner.lock")
        owner = lock.acquire()
        if owner is not None:
            return owner
        with self._own_lock:
            self._locks.append(lock)
            mgr = ComputeManager(host, self.config, make_driver(host, self.state_dir), self.store,
                                 self.bus, self.images, self.sink, self._notify)
            self.computes = {**self.computes, host.name: mgr}
        self.bus.serve_calls(mgr.topic, lambda method, args: self._answer_call(mgr, method, args))
        return None

    def _adopt_freed_hosts(self, stop: threading.Event) -> None:
        """A host that another process lets go (a CLI that finished) is driven from here on,
        so work queued for it is never left without a consumer while this process runs."""
        while not stop.wait(ADOPT_SECONDS):
            for host in self._drivable():
                if host.name not in self.computes and not stop.is_set() and \
                        self._try_own(host) is None:
                    self._spawn(f"compute-{host.name}", self.computes[host.name].serve)

    # -- what this process carries ----------------------------------------------------------
    def served_topics(self) -> set[str]:
        if self.own == "none":
            return set()
        return ({CONDUCTOR} if self.runs_conductor else set()) | \
            {compute_topic(name) for name in self.computes}

    def in_flight(self) -> list[dict]:
        """Work this process carries: instances with a task whose next step is queued or
        running on a topic it serves. Each: uuid, name, action, task_state, host."""
        topics = self.served_topics()
        if not topics:
            return []
        out, seen = [], set()
        for m in self.store.pending_messages():
            uuid = m["payload"]["args"].get("uuid")
            if m["topic"] not in topics or uuid in seen:
                continue
            inst = self.store.get_instance(uuid)
            if inst is None or (inst["task_state"] is None and m["payload"]["method"] not in CLEANUPS):
                continue
            seen.add(uuid)
            action = m["payload"]["args"].get("action") or m["payload"]["method"]
            out.append({"uuid": uuid, "name": inst["name"], "action": action,
                        "task_state": inst["task_state"], "host": m["topic"].removeprefix("compute.")})
        return out

    def settle(self, timeout: float = 600.0, on_wait: Callable[[list[dict]], None] | None = None,
               abandon: threading.Event | None = None) -> list[dict]:
        """Wait until in_flight() is empty: every step this process carries has reached a
        resting state, or was handed to a host another process drives. Returns what is left
        at the timeout, or when `abandon` is set (a second signal: stop now). on_wait is
        told once what it waits for."""
        deadline = time.monotonic() + timeout
        told, left = False, []
        while abandon is None or not abandon.is_set():
            left = self.in_flight()
            if not left or time.monotonic() >= deadline:
                return left
            if on_wait is not None and not told:
                on_wait(left)
                told = True
            with self._finished:
                self._finished.wait(0.1)
        return left

    def _requeue_dead_conductor_claims(self) -> None:
        """Conductors of many processes share one topic: a claim goes back when its
        process is gone. Only this machine's processes can be looked at: another machine's
        claims are left to the conductors that start there."""
        self.store.requeue_claims(CONDUCTOR, lambda owner: not claimed_here(owner)
                                  or pid_alive(int(owner.split("-")[0])))

    def _spawn(self, name: str, target) -> None:
        t = threading.Thread(target=target, args=(self._stop,), name=f"novatui-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, settle: bool = True, settle_timeout: float = 600.0,
             on_wait: Callable[[list[dict]], None] | None = None) -> None:
        """With settle, let the work this process carries reach a resting state first (no
        move is left between two steps by an exit); then finish the step each service is in
        and stop. Queued work stays queued, for the next process that drives its host."""
        if not self.started:
            self._release_locks()
            return
        if settle:
            self.settle(settle_timeout, on_wait)
        self._stop.set()
        self._hosts_wake.set()
        for topic in [CONDUCTOR] + [m.topic for m in self.computes.values()]:
            self.bus.wake(topic)
        for t in list(self._threads):
            t.join()
        self._api_pool.shutdown(wait=True)
        for name in self.computes:
            self.store.heartbeat(name, None, when=0)  # down at once, not after service_down_time
            self._notify(("host", name))
        self._release_locks()
        self.bus.close()
        self.sink.close()
        self.store.close()
        self.started = False

    def _release_locks(self) -> None:
        with self._own_lock:
            for lock in self._locks:
                lock.release()
            self._locks.clear()

    def __enter__(self) -> "Engine":
        return self.start() if not self.started else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- requests: one at a time (the API thread, or the service's loop: api_call) ------
    def submit(self, fn: Callable, *args, **kwargs) -> Future:
        return self._api_pool.submit(self.call_api, fn, *args, **kwargs)

    def call_api(self, fn: Callable, *args, **kwargs):
        """fn on the calling thread, as the API thread runs it: one request at a time."""
        with self._api_lock:
            return fn(*args, **kwargs)

    def request(self, action: str, ref: str, /, **params) -> Request:
        return self.submit(self.api.perform, action, ref, **params).result()

    def create(self, name: str, flavor: str, image: str, availability_zone: str | None = None) -> Request:
        return self.submit(self.api.create, name, flavor, image, availability_zone).result()

    def wait(self, request: Request | str, timeout: float = 600.0) -> dict:
        """Until the request's action has finished (here or in another process sharing the
        store). Returns the action record; raises TimeoutError."""
        rid = request.request_id if isinstance(request, Request) else request
        deadline = time.monotonic() + timeout
        while True:
            action = self.store.get_action(rid)
            if action is None:
                raise NotFound(f"no request {rid}")
            if action["finish_time"] is not None:
                return action
            self._check_served(action)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"request {rid} ({action['action']}) still running after "
                                   f"{timeout:.0f} s")
            with self._finished:
                self._finished.wait(min(left, 0.25))

    def _check_served(self, action: dict) -> None:
        """Fail fast when the request's next step waits on a host this process drives but
        cannot reach: nothing will serve it until the host is back."""
        for m in self.store.messages_for(action["instance_uuid"]):
            host = m["topic"].removeprefix("compute.")
            mgr = self.computes.get(host)
            if mgr is not None and mgr.ready.is_set() and not mgr.connected:
                error = self.store.services().get(host, {}).get("last_error") or "not connected"
                raise HostUnreachable(f"host {host} is unreachable ({error}); "
                                      f"{action['action']} of {action['instance_uuid']} stays "
                                      "queued until it is back")

    # -- reads -------------------------------------------------------------------------
    def instances(self, host: str | None = None) -> list[dict]:
        return self.store.list_instances(host)

    def instance(self, ref: str) -> dict:
        return self.api.get_instance(ref)

    def hosts(self) -> list[dict]:
        return host_views(self.config, self.store)

    def host_liveness(self) -> dict[str, str]:
        return host_liveness(self.config, self.store)

    def actions(self, ref: str) -> list[dict]:
        return self.store.list_actions(self.api.get_instance(ref)["uuid"])

    def fault(self, uuid: str) -> dict | None:
        return self.store.last_fault(uuid)

    def domain_xml(self, inst: dict) -> Future | None:
        """The guest's libvirt XML, fetched on its host's service thread, here or (with a
        broker) in the agent that drives the host; None when nobody here can ask for it."""
        host = inst.get("host") or ""
        mgr = self.computes.get(host)
        if mgr is None:
            return self.bus.call(compute_topic(host), "domain_xml", XML_CALL_SECONDS,
                                 uuid=inst["uuid"]) if host else None
        return mgr.call(mgr.driver.xml, inst["uuid"]) if mgr.connected else None

    def _answer_call(self, mgr: ComputeManager, method: str, args: dict) -> Future:
        """A call from another process (core/bus_broker.py) to a host this one drives."""
        if method == "domain_xml" and mgr.connected:
            return mgr.call(mgr.driver.xml, args["uuid"])
        refused: Future = Future()
        refused.set_exception(NovaError(f"host {mgr.host.name} is not connected"
                                        if method == "domain_xml" else f"no call {method!r}"))
        return refused
