"""What the engine tells its listeners (the console, the CLI's waits), from its threads, and
their form on the wire (the event stream of an attached console, the broker's notifications)."""
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


def log_fields(line: LogLine) -> dict:
    return {f: getattr(line, f) for f in LogLine.__slots__}


def event_to_dict(event: object) -> dict | None:
    """An event as JSON-able data; None for one that does not travel."""
    if isinstance(event, InstanceChanged):
        return {"type": "instance", "instance": event.instance}
    if isinstance(event, HostChanged):
        return {"type": "host", "host": event.host}
    if isinstance(event, LogEmitted):
        return {"type": "log", "line": log_fields(event.line)}
    if isinstance(event, ActionFinished):
        return {"type": "finished", "request_id": event.request_id,
                "instance_uuid": event.instance_uuid, "action": event.action, "ok": event.ok,
                "message": event.message}
    return None


def event_from_dict(item: dict) -> object | None:
    kind = item.get("type")
    if kind == "instance":
        return InstanceChanged(item["instance"])
    if kind == "host":
        return HostChanged(item["host"])
    if kind == "log":
        return LogEmitted(LogLine(**item["line"]))
    if kind == "finished":
        return ActionFinished(item["request_id"], item["instance_uuid"], item["action"],
                              bool(item["ok"]), item.get("message"))
    return None  # a kind this side does not know (a newer peer): skipped
