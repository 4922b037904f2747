"""The one interface the console and the CLI use, with two implementations: LocalClient (an
engine in this process) and HttpClient (core/http_client.py: a novatui service over HTTP).
Neither caller knows which it has.

Records are the store's plain dicts (an instance as `Store.get_instance` gives it, a host as
`host_views` gives it). Errors are core.errors' NovaError subclasses, with Nova's messages.
Listeners get core.events' dataclasses, on a client thread.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import Callable

from .events import HostChanged, InstanceChanged, LogEmitted, Request, Snapshot
from .logs import LogLine, LogTail, read_tail
from .views import server_detail

Listener = Callable[[object], None]
POLL_SECONDS = 1.0        # a read-only console with no service: the store, polled
HOST_REFRESH_SECONDS = 2.0


def console_info(engine) -> dict:
    """What a console needs to know of the cloud it shows (GET /novatui/info)."""
    c = engine.config
    sc = c.scheduler
    return {"config": str(c.path), "state_dir": str(engine.state_dir),
            "network_name": c.network_name,
            "hosts": [h.name for h in c.hosts],
            "zones": sorted({h.availability_zone for h in c.hosts}),
            "flavors": [{"name": f.name, "vcpus": f.vcpus, "ram_mb": f.ram_mb,
                         "disk_gb": f.disk_gb} for f in c.flavors.values()],
            "allocation_ratios": [sc.cpu_allocation_ratio, sc.ram_allocation_ratio,
                                  sc.disk_allocation_ratio]}


def instance_detail(engine, uuid: str) -> dict:
    """The console's detail screen: the server as `server show` has it, the flavor's size,
    the instance actions with their events (GET /novatui/instances/{uuid}/detail)."""
    inst = engine.api.get_instance(uuid)
    detail = server_detail(inst, engine.fault(inst["uuid"]), engine.config.network_name)
    flavor = engine.config.flavors.get(inst["flavor"])
    if flavor:
        detail["flavor"] = (f"{flavor.name} ({flavor.vcpus} vCPU, {flavor.ram_mb} MB RAM, "
                            f"{flavor.disk_gb} GB disk)")
    return {"instance": inst, "detail": detail,
            "actions": engine.store.list_actions(inst["uuid"])}


def xml_sentence(future, error: BaseException | None = None) -> str:
    """The guest's libvirt XML from the engine's future (None: no host this process drives
    has the domain) once it is done, or the sentence saying why there is none; `error`:
    why waiting for it ended (a timeout)."""
    if future is None:
        return "the domain is not defined on a host this service drives"
    if error is None:
        error = future.exception()
    if error is not None:
        return f"could not read the domain XML: {error}"
    return future.result() or "no domain on the host"


def domain_xml(engine, uuid: str, timeout: float = 10.0) -> str:
    """The guest's libvirt XML, or a sentence saying why there is none."""
    future = engine.domain_xml(engine.api.get_instance(uuid))
    try:
        if future is not None:
            future.result(timeout=timeout)
    except Exception as e:  # noqa: BLE001 - shown, not raised
        return xml_sentence(future, e)
    return xml_sentence(future)


class Client(ABC):
    """label: what the console's subtitle names (the inventory, or the service's URL).
    attached: True when the engine runs in another process (a service)."""
    read_only: bool = False
    label: str = ""
    attached: bool = False

    # -- reads -------------------------------------------------------------------------
    @abstractmethod
    def info(self) -> dict: ...
    @abstractmethod
    def instances(self, host: str | None = None) -> list[dict]: ...
    @abstractmethod
    def instance(self, ref: str) -> dict: ...
    @abstractmethod
    def fault(self, uuid: str) -> dict | None: ...
    @abstractmethod
    def actions(self, uuid: str) -> list[dict]: ...
    @abstractmethod
    def detail(self, uuid: str) -> dict: ...
    @abstractmethod
    def domain_xml(self, uuid: str) -> str: ...
    @abstractmethod
    def hosts(self) -> list[dict]: ...
    @abstractmethod
    def images(self) -> list[dict]: ...
    @abstractmethod
    def image(self, ref: str) -> dict: ...
    @abstractmethod
    def image_users(self, image_id: str) -> list[dict]: ...
    @abstractmethod
    def log_history(self) -> list[LogLine]: ...
    @abstractmethod
    def in_flight(self) -> list[dict]:
        """Work this process carries (see Engine.in_flight); [] for an attached client."""

    def first_snapshot(self):
        """A picture to paint before the service answers (core/starting.py), or None."""
        return None

    def started(self) -> str | None:
        """Wait until the client can serve: None, or why it cannot (core/starting.py)."""
        return None

    # -- requests ----------------------------------------------------------------------
    @abstractmethod
    def create(self, name: str, flavor: str, image: str,
               availability_zone: str | None = None) -> Request: ...
    @abstractmethod
    def request(self, action: str, ref: str, /, **params) -> Request: ...
    @abstractmethod
    def wait(self, request: Request, timeout: float = 600.0) -> dict:
        """Until the request's action has finished; the action record. TimeoutError."""
    @abstractmethod
    def set_host(self, name: str, enabled: bool, reason: str | None = None,
                 forced_down: bool = False) -> dict: ...
    @abstractmethod
    def create_image(self, name: str, file: str) -> dict: ...
    @abstractmethod
    def delete_image(self, ref: str) -> dict: ...

    # -- events and the end ------------------------------------------------------------
    @abstractmethod
    def subscribe(self, listener: Listener) -> None:
        """From now on: InstanceChanged, HostChanged, LogEmitted, ActionFinished; an
        HttpClient also sends Snapshot after each (re)connection, ServiceLost and
        ServiceBack."""
    @abstractmethod
    def unsubscribe(self, listener: Listener) -> None: ...
    @abstractmethod
    def close(self, settle: bool = True, on_wait: Callable | None = None) -> None: ...


class LocalClient(Client):
    """An engine in this process: the CLI when no service runs, and a read-only console
    with no service (it polls the store, since no process tells it of changes)."""

    def __init__(self, engine, poll: bool = False):
        self.engine = engine
        self.read_only = engine.read_only
        self.label = str(engine.config.path)
        self._poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # reads
    def info(self) -> dict:
        return console_info(self.engine)

    def instances(self, host=None):
        return self.engine.instances(host)

    def instance(self, ref):
        return self.engine.instance(ref)

    def fault(self, uuid):
        return self.engine.fault(uuid)

    def actions(self, uuid):
        return self.engine.actions(uuid)

    def detail(self, uuid):
        return instance_detail(self.engine, uuid)

    def domain_xml(self, uuid):
        return domain_xml(self.engine, uuid)

    def hosts(self):
        return self.engine.hosts()

    def images(self):
        return self.engine.images.list()

    def image(self, ref):
        return self.engine.images.get(ref)

    def image_users(self, image_id):
        return self.engine.images.users(image_id)

    def log_history(self):
        return read_tail(self.engine.state_dir / "logs")

    def in_flight(self):
        return self.engine.in_flight()

    # requests
    def create(self, name, flavor, image, availability_zone=None):
        return self.engine.create(name, flavor, image, availability_zone)

    def request(self, action, ref, /, **params):
        return self.engine.request(action, ref, **params)

    def wait(self, request, timeout=600.0):
        return self.engine.wait(request, timeout)

    def set_host(self, name, enabled, reason=None, forced_down=False):
        return self.engine.submit(self.engine.api.set_host, name, enabled, reason,
                                  forced_down).result()

    def create_image(self, name, file):
        return self.engine.submit(self.engine.api.create_image, name, file).result()

    def delete_image(self, ref):
        return self.engine.submit(self.engine.api.delete_image, ref).result()

    # events
    def subscribe(self, listener):
        self.engine.subscribe(listener)
        if self._poll and self._thread is None:
            self._thread = threading.Thread(target=self._watch, args=(listener,),
                                            name="novatui-watch", daemon=True)
            self._thread.start()

    def unsubscribe(self, listener):
        self.engine.unsubscribe(listener)

    def _watch(self, listener: Listener) -> None:
        """Changes made by other processes sharing the store come without events, and so do
        the lines they log; heartbeats age without events (a host that stops answering turns
        down)."""
        polled_at, hosts_at = time.time(), 0.0
        tail = LogTail(self.engine.state_dir / "logs")
        listener(Snapshot(self.engine.instances(), self.engine.hosts()))
        while not self._stop.wait(POLL_SECONDS):
            for line in tail.read():
                listener(LogEmitted(line))
            for inst in self.engine.store.changed_since(polled_at):
                polled_at = max(polled_at, inst["updated_at"])
                listener(InstanceChanged(inst))
            if time.monotonic() - hosts_at >= HOST_REFRESH_SECONDS:
                hosts_at = time.monotonic()
                for host in self.engine.hosts():
                    listener(HostChanged(host))

    def close(self, settle=True, on_wait=None):
        self._stop.set()
        self.engine.stop(settle=settle, on_wait=on_wait)
