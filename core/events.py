"""What the engine tells its listeners (the console, the CLI's waits), from its threads."""
from __future__ import annotations

from dataclasses import dataclass

from .logs import LogLine


@dataclass(frozen=True)
class Request:
    """What a client holds of a request the API accepted."""
    request_id: str
    instance_uuid: str
    action: str
    done: bool = False    # API-only actions finish at once


@dataclass(frozen=True, slots=True)
class InstanceChanged:
    instance: dict


@dataclass(frozen=True, slots=True)
class HostChanged:
    host: dict


@dataclass(frozen=True, slots=True)
class LogEmitted:
    line: LogLine


@dataclass(frozen=True, slots=True)
class ActionFinished:
    request_id: str
    instance_uuid: str
    action: str
    ok: bool
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every instance and host as they are now: sent when a client (re)connects."""
    instances: list
    hosts: list


@dataclass(frozen=True, slots=True)
class ServiceLost:
    """An attached client lost its service; it reconnects by itself."""
    reason: str


@dataclass(frozen=True, slots=True)
class ServiceBack:
    url: str
