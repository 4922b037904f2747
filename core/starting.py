"""The service a console embeds, started on a thread while the console paints.

Starting the engine (a compute service per host, each connecting to its hypervisor and
checking its guests) and the HTTP service takes most of a second at fleet size, and its
threads compete with the console for the interpreter. The console does not wait for it:
its first picture comes from one read of the store (first_snapshot), and every other call
waits until the service is up (a key pressed in that second is sent once it is). The
events stream's own snapshot then replaces the first picture."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from .errors import NovaError
from .events import Snapshot


def read_snapshot(config, state_dir: Path, hosts_starting: bool) -> Snapshot | None:
    """Every instance and host as the store has them, read-only: None for a new store.
    hosts_starting: this process is about to start their services (a host no service was
    heard from is "starting", not "down")."""
    import sqlite3

    from .hosts import host_views
    from .statedir import STORE_FILE
    from .store_peek import StorePeek
    path = Path(state_dir) / STORE_FILE
    if not path.is_file():
        return None   # a new cloud, or its store in PostgreSQL: the service's picture comes
    try:
        store = StorePeek(path)
        try:
            hosts = host_views(config, store)
            forced = {name for name, svc in store.services().items() if svc.get("forced_down")}
            instances = store.list_instances()
        finally:
            store.close()
    except (sqlite3.Error, OSError):
        return None   # the service's own start says what is wrong with it
    for view in hosts:  # no service heard (none ran): this process is starting it
        if hosts_starting and view["state"] == "down" and view["name"] not in forced:
            view["state"] = "starting"
    return Snapshot(instances, hosts)


class StartingClient:
    """A Client (by delegation, once started) and the embedded service's handle
    (in_flight, stop). `start` returns (client, service); service None: a client of a
    service that runs already (attached), which has its first picture from the store too."""

    attached = True
    read_only = False

    def __init__(self, start: Callable[[], tuple], label: str, first: Snapshot | None,
                 read_only: bool = False):
        self.label = label
        self.read_only = read_only
        self._first = first
        self._client = None
        self._service = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._begun = threading.Lock()
        self._thread = threading.Thread(target=self._start, args=(start,), name="novatui-start",
                                        daemon=True)

    def begin(self) -> None:
        """Start the service now (the console calls it once its first picture is painted;
        any other call starts it too)."""
        if self._begun.acquire(blocking=False):
            self._thread.start()

    def _start(self, start) -> None:
        try:
            self._client, self._service = start()
        except BaseException as e:  # noqa: BLE001 - handed to the console, which says it
            self._error = e
        finally:
            self._done.set()

    def first_snapshot(self) -> Snapshot | None:
        return self._first

    def started(self) -> str | None:
        """Wait for the service: None once it serves, else why it could not start."""
        self.begin()
        self._done.wait()
        if self._error is None:
            return None
        if isinstance(self._error, NovaError):
            return self._error.message
        return f"{type(self._error).__name__}: {self._error}"

    def _ready(self):
        reason = self.started()
        if reason is not None:
            raise NovaError(f"the service did not start: {reason}")
        return self._client

    def __getattr__(self, name: str):
        return getattr(self._ready(), name)

    def unsubscribe(self, listener) -> None:
        if self._client is not None:
            self._client.unsubscribe(listener)

    # -- the embedded service -------------------------------------------------------------
    def in_flight(self) -> list[dict]:
        client = self._ready()
        return (self._service or client).in_flight()

    def close(self, settle: bool = True, on_wait=None) -> None:
        if not self._begun.locked():
            return   # never started: nothing to close
        self.started()
        if self._client is not None:
            self._client.close(settle=settle, on_wait=on_wait)

    def stop(self, settle: bool = True, on_wait=None) -> None:
        if not self._begun.locked():
            return
        self.started()
        if self._service is not None:
            self._service.stop(settle=settle, on_wait=on_wait)

    @property
    def error(self) -> BaseException | None:
        return self._error if self._done.is_set() else None
