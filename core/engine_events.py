"""The engine's events: what its services notify (instance, host and action changes, log
lines) goes to the process's listeners (a console, the HTTP event hub) and, with a broker,
to the other processes; another process's notifications come back in here. Mixed into
Engine."""
from __future__ import annotations

import threading
from typing import Callable, NamedTuple

from . import states as S
from .events import (ActionFinished, HostChanged, InstanceChanged, LogEmitted, event_from_dict,
                     event_to_dict)
from .hosts import host_views
from .logs import LogLine

Listener = Callable[[object], None]
HOSTS_AT_ONCE = 4   # more dirty hosts than this: one read of every host's view
HOSTS_EVERY = 0.1   # host views are read at most this often (a console shows them so)
# Task states that neither move an instance nor claim for it: going into or out of one
# changes no host's usage (a host view sums the sizes of its live instances and the claims
# of migrations in progress).
IN_PLACE_TASKS = frozenset({None, *S.REBOOT_STATES, *S.HARD_REBOOT_STATES, S.PAUSING,
                            S.UNPAUSING, S.SUSPENDING, S.RESUMING, S.POWERING_OFF,
                            S.POWERING_ON})


class UsageKey(NamedTuple):
    """What of an instance its host's view depends on: a change that keeps it (a pause, a
    reboot) does not make the host's view stale."""
    host: str | None
    vcpus: int | None
    memory_mb: int | None
    root_gb: int | None
    live: bool
    resized: bool
    moving_task: str | None   # a task that moves it or claims for it; None for one in place

    @property
    def moving(self) -> bool:
        """In a move: resized and waiting, or a task that moves."""
        return self.resized or self.moving_task is not None


def usage_key(inst: dict) -> UsageKey:
    task = inst.get("task_state")
    return UsageKey(inst.get("host"), inst.get("vcpus"), inst.get("memory_mb"),
                    inst.get("root_gb"), inst.get("deleted_at") is None,
                    inst.get("vm_state") == S.RESIZED,
                    None if task in IN_PLACE_TASKS else task)


class EventFanout:
    def _init_events(self) -> None:
        self._publish = False   # notifications to other processes: with a broker
        self._listeners: list[Listener] = []
        self._listen_lock = threading.Lock()
        self._finished = threading.Condition()   # notified as each action finishes
        # Host views are read and emitted by one thread of their own, after the change
        # that made them stale: a burst of changes on a host costs one read, off the
        # request's and the compute service's path, and an unchanged view is not sent.
        self._dirty_hosts: set[str] = set()
        self._hosts_lock = threading.Lock()
        self._hosts_wake = threading.Event()
        self._hosts_sent: dict[str, dict] = {}
        self._usage_keys: dict[str, UsageKey] = {}   # by uuid: usage_key as last seen

    def subscribe(self, listener: Listener) -> None:
        with self._listen_lock:
            self._listeners = self._listeners + [listener]
        with self._hosts_lock:
            self._hosts_sent.clear()   # the newcomer has seen none: the next view goes out
        self._usage_keys.clear()       # untracked while nobody listened

    def unsubscribe(self, listener: Listener) -> None:
        with self._listen_lock:
            self._listeners = [x for x in self._listeners if x is not listener]

    def _emit(self, event: object) -> None:
        for listener in self._listeners:
            listener(event)

    def _on_log(self, line: LogLine) -> None:
        if self._publish:
            self.bus.notify(event_to_dict(LogEmitted(line)))
        if self._listeners:
            self._emit(LogEmitted(line))

    def _on_remote(self, item: dict) -> None:
        """Another process's notification (through the broker), as if it happened here."""
        if item.get("type") == "host_dirty":
            self._notify(("host", item["name"]), remote=True)
        elif (event := event_from_dict(item)) is not None:
            self._remote_event(event)

    def _remote_event(self, event: object) -> None:
        if isinstance(event, LogEmitted):
            if self._listeners:
                self._emit(event)
        else:
            self._notify(event, remote=True)

    def _notify(self, event: object, remote: bool = False) -> None:
        if self._publish and not remote:
            self.bus.notify({"type": "host_dirty", "name": event[1]} if isinstance(event, tuple)
                            else event_to_dict(event))
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
            inst = event.instance
            key = usage_key(inst)
            before = self._usage_keys.get(inst["uuid"])
            if before != key:
                if inst.get("deleted_at") is None:
                    self._usage_keys[inst["uuid"]] = key
                else:
                    self._usage_keys.pop(inst["uuid"], None)
                self._emit_host(inst["host"])
                if before is not None and (before.host != key.host or before.moving):
                    # It left a host, or a move's claims changed (a confirm releases the
                    # source's): the other host is not in this record, so every view goes
                    # again (moves are rare; a pause never comes here).
                    for host in self.config.hosts:
                        self._emit_host(host.name)

    def _emit_host(self, name: str) -> None:
        """The host's view is stale: the emitter thread reads and sends it."""
        with self._hosts_lock:
            self._dirty_hosts.add(name)
        self._hosts_wake.set()

    def _host_emitter(self, stop: threading.Event) -> None:
        while True:
            self._hosts_wake.wait()
            self._hosts_wake.clear()
            if stop.is_set():
                return
            with self._hosts_lock:
                dirty, self._dirty_hosts = self._dirty_hosts, set()
            if not dirty or not self._listeners:
                continue
            try:
                self._send_hosts(dirty)
            except Exception:  # noqa: BLE001 - the store, busy or closing: read them again
                with self._hosts_lock:
                    self._dirty_hosts |= dirty
                self._hosts_wake.set()
            stop.wait(HOSTS_EVERY)  # what changes meanwhile waits, and goes in one read

    def _send_hosts(self, dirty: set[str]) -> None:
        if len(dirty) > HOSTS_AT_ONCE:
            views = [v for v in host_views(self.config, self.store) if v["name"] in dirty]
        else:
            views = [v for name in sorted(dirty)
                     for v in host_views(self.config, self.store, only=name)]
        for view in views:
            with self._hosts_lock:
                if self._hosts_sent.get(view["name"]) == view:
                    continue
                self._hosts_sent[view["name"]] = view
            self._emit(HostChanged(view))
