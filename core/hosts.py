"""What the engine knows of each host: configured size or what its compute service reported,
what its instances hold, and whether the service is up and enabled."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .config import Config
from .scheduler import HostState

if TYPE_CHECKING:   # a console's first picture reads a StorePeek: no SQLAlchemy to import
    from .store import Store


def _state(config: Config, svc: dict, now: float) -> str:
    heard = svc.get("heartbeat") or 0
    up = (now - heard) < config.compute.service_down_time and not svc.get("forced_down")
    return "up" if up else "down"


def host_liveness(config: Config, store: Store) -> dict[str, str]:
    """Each host's up or down from its service row alone (no usage summed over the
    instances): what changes as heartbeats age, without an event."""
    services, now = store.services(), time.time()
    return {h.name: _state(config, services.get(h.name, {}), now) for h in config.hosts}


def host_views(config: Config, store: Store, only: str | None = None) -> list[dict]:
    services = store.services()
    usage = store.host_usage(only)
    now = time.time()
    views = []
    for h in config.hosts:
        if only is not None and h.name != only:
            continue
        svc = services.get(h.name, {})
        used = usage.get(h.name, {})
        heard = svc.get("heartbeat") or 0
        views.append({
            "name": h.name, "state": _state(config, svc, now),
            "enabled": not svc.get("disabled"), "disabled_reason": svc.get("disabled_reason"),
            "availability_zone": h.availability_zone, "uri": svc.get("uri") or h.uri,
            "vcpus": svc.get("vcpus") or h.vcpus, "vcpus_used": used.get("vcpus", 0),
            "memory_mb": svc.get("memory_mb") or h.memory_mb,
            "memory_mb_used": used.get("memory_mb", 0),
            "disk_gb": svc.get("disk_gb") or h.disk_gb, "disk_gb_used": used.get("disk_gb", 0),
            "instances": used.get("instances", 0), "last_error": svc.get("last_error"),
            "heartbeat": heard or None,
        })
    return views


def host_states(config: Config, store: Store) -> list[HostState]:
    """The scheduler's view: one HostState per configured host."""
    return [HostState(name=v["name"], config=config.host(v["name"]), vcpus=v["vcpus"],
                      memory_mb=v["memory_mb"], disk_gb=v["disk_gb"], vcpus_used=v["vcpus_used"],
                      memory_mb_used=v["memory_mb_used"], disk_gb_used=v["disk_gb_used"],
                      instances=v["instances"], up=v["state"] == "up", enabled=v["enabled"],
                      disabled_reason=v["disabled_reason"])
            for v in host_views(config, store)]
