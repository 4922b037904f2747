"""Nova's Compute API, the hosts: os-hypervisors (one per configured host) and os-services
(a nova-compute per host, and this process's nova-conductor and nova-scheduler, always up),
with the updates that enable, disable or force down a nova-compute."""
from __future__ import annotations

import socket
import time

from aiohttp import web

from ..errors import NotFound
from ..hosts import host_views
from .actions_map import check_string, invalid, shown, shown_repr
from .common import (BadRequest, api_call, engine as engine_of, json_body, off_loop,
                     versioned)
from .nova_views import at_least, host_ip, is_uuid, page, perfect_time, service_uuid

COMPUTE = "nova-compute"
CONTROL_BINARIES = ("nova-conductor", "nova-scheduler")   # this process, always up


def _compute_id(request: web.Request, index: int, host: str):
    """A nova-compute's id: a uuid from 2.53, before that an integer after the control
    services'."""
    return service_uuid(host, COMPUTE) if at_least(request, 53) else \
        index + 1 + len(CONTROL_BINARIES)


# -- hypervisors -----------------------------------------------------------------------
def _hypervisor(request: web.Request, index: int, view: dict, detail: bool,
                servers: list[dict] | None) -> dict:
    name = view["name"]
    hyp = {"id": service_uuid(name, "compute-node") if at_least(request, 53) else index + 1,
           "hypervisor_hostname": name, "state": view["state"],
           "status": "enabled" if view["enabled"] else "disabled"}
    if detail:
        hyp.update({"hypervisor_type": "test" if view["uri"].startswith("test:") else "QEMU",
                    "hypervisor_version": None, "host_ip": host_ip(view["uri"]),
                    "service": {"id": _compute_id(request, index, name),
                                "host": name, "disabled_reason": view["disabled_reason"]}})
        if at_least(request, 88):
            hyp["uptime"] = None
        else:
            free_ram = view["memory_mb"] - view["memory_mb_used"]
            free_disk = view["disk_gb"] - view["disk_gb_used"]
            hyp.update({"vcpus": view["vcpus"], "memory_mb": view["memory_mb"],
                        "local_gb": view["disk_gb"], "vcpus_used": view["vcpus_used"],
                        "memory_mb_used": view["memory_mb_used"],
                        "local_gb_used": view["disk_gb_used"], "free_ram_mb": free_ram,
                        "free_disk_gb": free_disk, "current_workload": 0,
                        "running_vms": view["instances"], "disk_available_least": free_disk,
                        "cpu_info": {} if at_least(request, 28) else ""})
    if servers:
        hyp["servers"] = [{"name": s["name"], "uuid": s["uuid"]} for s in servers]
    elif servers is not None and at_least(request, 75):
        hyp["servers"] = []
    return hyp


def _hypervisors(request: web.Request, detail: bool) -> list[dict]:
    engine, q = engine_of(request), request.query
    with_servers = at_least(request, 53) and q.get("with_servers", "").lower() in ("1", "true")
    pattern = q.get("hypervisor_hostname_pattern") if at_least(request, 53) else None
    found = []
    for i, view in enumerate(host_views(engine.config, engine.store)):
        if pattern is not None and pattern not in view["name"]:
            continue
        servers = engine.store.list_instances(view["name"]) if with_servers else None
        found.append(_hypervisor(request, i, view, detail, servers))
    if pattern is not None and not found:
        raise NotFound(f"No hypervisor matching '{shown(pattern)}' could be found.")
    return found


async def _hypervisor_list(request: web.Request, detail: bool) -> web.Response:
    found = await off_loop(_hypervisors, request, detail)
    collection = "os-hypervisors/detail" if detail else "os-hypervisors"
    shown, next_links = page(request, found, collection)
    body = {"hypervisors": shown}
    if next_links and at_least(request, 33):
        body["hypervisors_links"] = next_links
    return web.json_response(body)


@versioned
async def list_hypervisors(request: web.Request) -> web.Response:
    return await _hypervisor_list(request, False)


@versioned
async def list_hypervisors_detail(request: web.Request) -> web.Response:
    return await _hypervisor_list(request, True)


@versioned
async def show_hypervisor(request: web.Request) -> web.Response:
    hid = request.match_info["hypervisor_id"]
    if at_least(request, 53) and not is_uuid(hid):
        raise BadRequest(f"Invalid uuid {shown(hid)}")
    for hyp in await off_loop(_hypervisors, request, True):
        if str(hyp["id"]) == hid:
            return web.json_response({"hypervisor": hyp})
    raise NotFound(f"Hypervisor with ID '{shown(hid)}' could not be found.")


# -- services --------------------------------------------------------------------------
def _services(request: web.Request) -> list[dict]:
    engine = engine_of(request)
    here, now = socket.gethostname(), perfect_time(time.time())
    services = [{"binary": b, "host": here,
                 "id": service_uuid(here, b) if at_least(request, 53) else i + 1,
                 "zone": "internal", "status": "enabled", "state": "up", "updated_at": now,
                 "disabled_reason": None, "forced_down": False}
                for i, b in enumerate(CONTROL_BINARIES)]
    forced = {h: bool(s.get("forced_down")) for h, s in engine.store.services().items()}
    for i, view in enumerate(host_views(engine.config, engine.store)):
        name = view["name"]
        services.append({
            "binary": COMPUTE, "host": name,
            "id": _compute_id(request, i, name),
            "zone": view["availability_zone"],
            "status": "enabled" if view["enabled"] else "disabled", "state": view["state"],
            "updated_at": perfect_time(view["heartbeat"]),
            "disabled_reason": view["disabled_reason"], "forced_down": forced.get(name, False)})
    if not at_least(request, 11):
        for s in services:
            del s["forced_down"]
    q = request.query
    return [s for s in services if q.get("host", s["host"]) == s["host"]
            and q.get("binary", s["binary"]) == s["binary"]]


@versioned
async def list_services(request: web.Request) -> web.Response:
    return web.json_response({"services": await off_loop(_services, request)})


def _set_service(engine, host: str, status: str | None = None, reason: str | None = None,
                 forced_down: bool | None = None) -> None:
    """As one API request: what the body changes, the rest as it is."""
    view = host_views(engine.config, engine.store, only=host)[0]
    enabled = view["enabled"] if status is None else status == "enabled"
    if status is None:
        reason = view["disabled_reason"]
    if forced_down is None:
        forced_down = bool(engine.store.services().get(host, {}).get("forced_down"))
    engine.api.set_host(host, enabled, None if enabled else reason, forced_down)


def _bool(value, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "1", "yes", "on", "t", "y"):
        return True
    if text in ("false", "0", "no", "off", "f", "n"):
        return False
    raise invalid(key, value, f"{shown_repr(value)} is not of type 'boolean'")


def _reason(body: dict) -> str | None:
    """disabled_reason as Nova's schema has it: a string of 1 to 255 characters."""
    if "disabled_reason" not in body:
        return None
    return check_string("disabled_reason", body["disabled_reason"], min_length=1)


def _no_other_keys(body: dict, allowed: tuple) -> None:
    extra = sorted(str(k) for k in body if k not in allowed)
    if extra:
        raise BadRequest(f"Invalid input for field/attribute service: Additional properties "
                         f"are not allowed ({shown(', '.join(map(repr, extra)))} "
                         f"{'were' if len(extra) > 1 else 'was'} unexpected)")


async def _update_v253(request: web.Request, service_id: str, body: dict) -> dict:
    if not is_uuid(service_id):
        raise BadRequest(f"Invalid uuid {shown(service_id)}")
    _no_other_keys(body, ("status", "disabled_reason", "forced_down"))
    status = body.get("status")
    if status not in (None, "enabled", "disabled"):
        raise invalid("status", status, f"{shown_repr(status)} is not one of "
                                        "['enabled', 'disabled']")
    reason = _reason(body)
    found = [s for s in await off_loop(_services, request) if s["id"] == service_id]
    if not found:
        raise NotFound(f"Service {service_id} could not be found.")
    service = found[0]
    if service["binary"] != COMPUTE:
        raise BadRequest(f"Updating a {service['binary']} service is not supported. Only "
                         "nova-compute services can be updated.")
    if status == "enabled" and reason:
        raise BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.")
    forced = _bool(body["forced_down"], "forced_down") if "forced_down" in body else None
    if status is None and forced is None:
        raise BadRequest("No updates were requested. Fields 'status' or 'forced_down' "
                         "should be specified.")
    await api_call(request, _set_service, engine_of(request), service["host"], status,
                   reason, forced)
    updated = [s for s in await off_loop(_services, request) if s["id"] == service_id]
    return {"service": updated[0]}


async def _update_v21(request: web.Request, action: str, body: dict) -> dict:
    """Before 2.53: PUT /os-services/{enable|disable|disable-log-reason|force-down}."""
    actions = ("enable", "disable", "disable-log-reason") + (("force-down",) if at_least(
        request, 11) else ())
    if action not in actions:
        raise NotFound("Unknown action")
    _no_other_keys(body, ("host", "binary", "disabled_reason") + (
        ("forced_down",) if at_least(request, 11) else ()))
    for key in ("host", "binary"):
        if key not in body:
            raise invalid("service", body, f"'{key}' is a required property")
        check_string(key, body[key], min_length=1)
    host, binary = body["host"], body["binary"]
    reason = _reason(body)
    if binary != COMPUTE:
        raise BadRequest(f"Updating a {shown(binary)} service is not supported. Only "
                         "nova-compute services can be updated.")
    if host not in {h.name for h in engine_of(request).config.hosts}:
        raise NotFound(f"Compute host {shown(host)} could not be found.")
    out = {"host": host, "binary": binary}
    if action == "force-down":
        if "forced_down" not in body:
            raise BadRequest("Missing forced_down field")
        out["forced_down"] = _bool(body["forced_down"], "forced_down")
        await api_call(request, _set_service, engine_of(request), host,
                       forced_down=out["forced_down"])
        return {"service": out}
    if action == "disable-log-reason" and reason is None:
        raise BadRequest("Missing disabled reason field")
    if action != "disable-log-reason":
        reason = None
    out["status"] = "enabled" if action == "enable" else "disabled"
    if reason:
        out["disabled_reason"] = reason
    await api_call(request, _set_service, engine_of(request), host, out["status"], reason)
    return {"service": out}


@versioned
async def update_service(request: web.Request) -> web.Response:
    body, sid = await json_body(request), request.match_info["service_id"]
    update = _update_v253 if at_least(request, 53) else _update_v21
    return web.json_response(await update(request, sid, body))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/v2.1/os-hypervisors", list_hypervisors)
    r.add_get("/v2.1/os-hypervisors/detail", list_hypervisors_detail)
    r.add_get("/v2.1/os-hypervisors/{hypervisor_id}", show_hypervisor)
    r.add_get("/v2.1/os-services", list_services)
    r.add_put("/v2.1/os-services/{service_id}", update_service)
