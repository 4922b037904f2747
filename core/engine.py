"""The engine: the store, the bus, the API, the conductor and one compute service per host,
each on its own thread. Callers (CLI, console) use this small thread-safe surface: submit
requests, wait for them, read state, and subscribe to events. No libvirt call ever runs on a
caller's thread.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time
import uuid as uuidlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from .api import API, Request
from .bus import CONDUCTOR, MessageBus
from .compute import ComputeManager
from .conductor import Conductor
from .config import Config
from .errors import HostOwned, NotFound
from .events import ActionFinished, HostChanged, InstanceChanged, LogEmitted
from .hosts import host_views
from .images import ImageStore
from .logs import LogLine, LogSink
from .store import Store
from .virt import make_driver, start_event_loop

Listener = Callable[[object], None]


class HostLock:
    """One process drives a host at a time: an flock on <state>/hosts/<name>/owner.lock."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> int | None:
        """Take the lock; None on success, else the pid that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            return int(owner) if owner.isdigit() else -1
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        return None

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Engine:
    """own: "all" (every host, or fail naming the owner), "free" (the hosts no other process
    drives; the others are reached through the shared bus) or "none" (an API client)."""

    def __init__(self, config: Config, state_dir: str | Path, read_only: bool = False,
                 own: str = "all"):
        self.config = config
        self.state_dir = Path(state_dir)
        self.read_only = read_only
        self.own = own
        self.owner_id = f"{os.getpid()}-{uuidlib.uuid4().hex[:8]}"
        self._listeners: list[Listener] = []
        self._listen_lock = threading.Lock()
        self._finished = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._locks: list[HostLock] = []
        self.computes: dict[str, ComputeManager] = {}
        self.started = False

    # -- life cycle --------------------------------------------------------------------
    def start(self, ready_timeout: float = 30.0) -> "Engine":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        start_event_loop()
        self.store = Store(self.state_dir / "novatui.db")
        self.sink = LogSink(self.state_dir / "logs", emit=self._on_log)
        self.bus = MessageBus(self.store, self.owner_id)
        self.images = ImageStore(self.store, self.state_dir / "images")
        if not self.read_only:
            self.images.ensure_configured(self.config.images)
        self.api = API(self.config, self.store, self.bus, self.images, self.sink, self._notify,
                       self.read_only)
        self._api_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="novatui-api")
        try:
            self._own_hosts()
        except Exception:
            self._release_locks()
            raise
        for name, mgr in self.computes.items():
            self._spawn(f"compute-{name}", mgr.serve)
        if self.own != "none":
            self._requeue_dead_conductor_claims()
            self.conductor = Conductor(self.config, self.store, self.bus, self.sink, self._notify)
            self._spawn("conductor", self.conductor.serve)
        deadline = time.monotonic() + ready_timeout
        for mgr in self.computes.values():
            mgr.ready.wait(max(0.0, deadline - time.monotonic()))
        self.started = True
        return self

    def _own_hosts(self) -> None:
        if self.own == "none":
            return
        for host in self.config.hosts:
            lock = HostLock(self.state_dir / "hosts" / host.name / "owner.lock")
            owner = lock.acquire()
            if owner is not None:
                if self.own == "all":
                    raise HostOwned(f"host {host.name} is in use by another novatui process "
                                    f"(pid {owner}); stop it or use another --state-dir")
                continue
            self._locks.append(lock)
            self.computes[host.name] = ComputeManager(
                host, self.config, make_driver(host, self.state_dir), self.store, self.bus,
                self.images, self.sink, self._notify)

    def _requeue_dead_conductor_claims(self) -> None:
        for m in self.store.pending_messages(CONDUCTOR):
            owner = m["claimed_by"]
            if owner and not _pid_alive(int(owner.split("-")[0])):
                self.store.release_claim(m["id"])

    def _spawn(self, name: str, target) -> None:
        t = threading.Thread(target=target, args=(self._stop,), name=f"novatui-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Finish the operation each service is in, then stop; queued work stays queued."""
        if not self.started:
            self._release_locks()
            return
        self._stop.set()
        for topic in [CONDUCTOR] + [m.topic for m in self.computes.values()]:
            self.bus.wake(topic)
        for t in self._threads:
            t.join()
        self._api_pool.shutdown(wait=True)
        for name in self.computes:
            self.store.heartbeat(name, None, when=0)  # down at once, not after service_down_time
        self._release_locks()
        self.sink.close()
        self.started = False

    def _release_locks(self) -> None:
        for lock in self._locks:
            lock.release()
        self._locks.clear()

    def __enter__(self) -> "Engine":
        return self.start() if not self.started else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- events ------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        with self._listen_lock:
            self._listeners = self._listeners + [listener]

    def unsubscribe(self, listener: Listener) -> None:
        with self._listen_lock:
            self._listeners = [x for x in self._listeners if x is not listener]

    def _emit(self, event: object) -> None:
        for listener in self._listeners:
            listener(event)

    def _on_log(self, line: LogLine) -> None:
        if self._listeners:
            self._emit(LogEmitted(line))

    def _notify(self, event: object) -> None:
        if isinstance(event, ActionFinished):
            with self._finished:
                self._finished.notify_all()
        if not self._listeners:
            return
        if isinstance(event, tuple):  # ("host", name) from a compute service
            self._emit_host(event[1])
            return
        self._emit(event)
        if isinstance(event, InstanceChanged) and event.instance.get("host"):
            self._emit_host(event.instance["host"])

    def _emit_host(self, name: str) -> None:
        for view in host_views(self.config, self.store, only=name):
            self._emit(HostChanged(view))

    # -- requests (run on the API thread) ----------------------------------------------
    def submit(self, fn: Callable, *args, **kwargs) -> Future:
        return self._api_pool.submit(fn, *args, **kwargs)

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
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"request {rid} ({action['action']}) still running after "
                                   f"{timeout:.0f} s")
            with self._finished:
                self._finished.wait(min(left, 0.25))

    # -- reads -------------------------------------------------------------------------
    def instances(self, host: str | None = None) -> list[dict]:
        return self.store.list_instances(host)

    def instance(self, ref: str) -> dict:
        return self.api.get_instance(ref)

    def hosts(self) -> list[dict]:
        return host_views(self.config, self.store)

    def actions(self, ref: str) -> list[dict]:
        return self.store.list_actions(self.api.get_instance(ref)["uuid"])

    def fault(self, uuid: str) -> dict | None:
        return self.store.last_fault(uuid)

    def domain_xml(self, inst: dict) -> Future | None:
        """The guest's libvirt XML, fetched on its host's service thread; None when this
        process does not drive that host."""
        mgr = self.computes.get(inst.get("host") or "")
        return None if mgr is None or not mgr.connected else mgr.call(mgr.driver.xml, inst["uuid"])
