"""Nova's Compute API: flavors, os-instance-actions and os-migrations (os-hypervisors and
os-services are in compute_hosts.py)."""
from __future__ import annotations

import uuid as uuidlib

from aiohttp import web

from ..errors import NotFound
from .actions_map import shown
from .common import BadRequest, engine as engine_of, off_loop, versioned
from .nova_views import (at_least, flavor_basic, flavor_show, host_id, host_ip, live_instance,
                         page, perfect_time)


# -- flavors ---------------------------------------------------------------------------
def _flavors(request: web.Request) -> list:
    flavors = sorted(engine_of(request).config.flavors.values(), key=lambda f: f.name)
    q = request.query
    try:
        min_ram, min_disk = int(q.get("minRam", 0)), int(q.get("minDisk", 0))
    except ValueError:
        raise BadRequest("Invalid minRam or minDisk filter") from None
    return [f for f in flavors if f.ram_mb >= min_ram and f.disk_gb >= min_disk]


def _flavor_list(request: web.Request, view, collection: str) -> web.Response:
    shown, next_links = page(request, [view(request, f) for f in _flavors(request)], collection)
    body = {"flavors": shown}
    if next_links:
        body["flavors_links"] = next_links
    return web.json_response(body)


@versioned
async def list_flavors(request: web.Request) -> web.Response:
    return _flavor_list(request, flavor_basic, "flavors")


@versioned
async def list_flavors_detail(request: web.Request) -> web.Response:
    return _flavor_list(request, flavor_show, "flavors/detail")


def _flavor(request: web.Request):
    fid = request.match_info["flavor_id"]
    flavor = engine_of(request).config.flavors.get(fid)
    if flavor is None:
        raise NotFound(f"Flavor {shown(fid)} could not be found.")
    return flavor


@versioned
async def show_flavor(request: web.Request) -> web.Response:
    return web.json_response({"flavor": flavor_show(request, _flavor(request))})


@versioned
async def flavor_extra_specs(request: web.Request) -> web.Response:
    _flavor(request)
    return web.json_response({"extra_specs": {}})


# -- instance actions ------------------------------------------------------------------
ACTION_KEYS = ("action", "instance_uuid", "request_id", "user_id", "project_id",
               "start_time", "message")


def _action(request: web.Request, a: dict) -> dict:
    out = {k: perfect_time(a[k]) if k == "start_time" else a[k] for k in ACTION_KEYS}
    if at_least(request, 58):
        out["updated_at"] = perfect_time(a["finish_time"] or a["start_time"])
    return out


def _event(request: web.Request, e: dict) -> dict:
    """The store's details are the traceback of an unexpected failure, else its message."""
    details = e["details"] or None
    trace = details if details and details.startswith("Traceback") else None
    out = {"event": e["event"], "start_time": perfect_time(e["start_time"]),
           "finish_time": perfect_time(e["finish_time"]), "result": e["result"],
           "traceback": trace}
    if at_least(request, 62):
        out.update({"host": e["host"], "hostId": host_id(e["host"])})
    if at_least(request, 84):
        out["details"] = details.strip().splitlines()[-1] if trace else details
    return out


def _instance_for_actions(request: web.Request) -> dict:
    """From 2.21 the actions of a deleted instance are shown too."""
    engine, sid = engine_of(request), request.match_info["server_id"]
    if not at_least(request, 21):
        return live_instance(engine, sid)
    inst = engine.store.get_instance(sid)
    if inst is None:
        raise NotFound(f"Instance {shown(sid)} could not be found.")
    return inst


def _actions(request: web.Request) -> dict:
    inst = _instance_for_actions(request)
    found = sorted(engine_of(request).store.list_actions(inst["uuid"]),
                   key=lambda a: a["start_time"], reverse=True)
    shown = [_action(request, a) for a in found]
    body = {"instanceActions": shown}
    if at_least(request, 58):
        shown, next_links = page(request, shown,
                                 f"servers/{inst['uuid']}/os-instance-actions", "request_id")
        body = {"instanceActions": shown, **({"links": next_links} if next_links else {})}
    return body


def _action_detail(request: web.Request) -> dict:
    inst = _instance_for_actions(request)
    rid = request.match_info["request_id"]
    found = [a for a in engine_of(request).store.list_actions(inst["uuid"])
             if a["request_id"] == rid]
    if not found:
        raise NotFound(f"Action {shown(rid)} not found")
    return {"instanceAction": {**_action(request, found[0]),
                               "events": [_event(request, e) for e in found[0]["events"]]}}


@versioned
async def list_instance_actions(request: web.Request) -> web.Response:
    return web.json_response(await off_loop(_actions, request))


@versioned
async def show_instance_action(request: web.Request) -> web.Response:
    return web.json_response(await off_loop(_action_detail, request))


# -- migrations ------------------------------------------------------------------------
LIVE_IN_PROGRESS = ("queued", "preparing", "running", "post-migrating")
FILTERS = {"instance_uuid": "instance_uuid", "status": "status",
           "source_compute": "source_host", "migration_type": "migration_type"}


def _migration(request: web.Request, m: dict, flavor_ids: dict, uris: dict) -> dict:
    dest = m["dest_host"]
    out = {"id": m["id"], "instance_uuid": m["instance_uuid"], "status": m["status"],
           "source_compute": m["source_host"], "source_node": m["source_host"],
           "dest_compute": dest, "dest_node": dest,
           "dest_host": host_ip(uris[dest]) if dest in uris else None,
           "old_instance_type_id": flavor_ids.get(m["old_flavor"]),
           "new_instance_type_id": flavor_ids.get(m["new_flavor"]),
           "created_at": perfect_time(m["created_at"]),
           "updated_at": perfect_time(m["updated_at"])}
    if at_least(request, 23):
        out["migration_type"] = m["migration_type"]
        if m["migration_type"] == "live-migration" and m["status"] in LIVE_IN_PROGRESS:
            out["links"] = [{"rel": rel, "href": href} for rel, href in (
                ("self", f"/v2.1/servers/{m['instance_uuid']}/migrations/{m['id']}"),
                ("bookmark", f"/servers/{m['instance_uuid']}/migrations/{m['id']}"))]
    if at_least(request, 59):
        out["uuid"] = str(uuidlib.uuid5(uuidlib.NAMESPACE_OID, f"novatui-migration-{m['id']}"))
    if at_least(request, 80):
        out.update({"user_id": "admin", "project_id": "admin"})
    return out


def _migrations(request: web.Request) -> dict:
    engine, q = engine_of(request), request.query
    found = engine.store.list_migrations()
    for key, column in FILTERS.items():
        if key in q:
            found = [m for m in found if m[column] == q[key]]
    if "host" in q:
        found = [m for m in found if q["host"] in (m["source_host"], m["dest_host"])]
    if at_least(request, 59):
        found.sort(key=lambda m: (m["created_at"], m["id"]), reverse=True)
    flavor_ids = {name: i + 1 for i, name in enumerate(engine.config.flavors)}
    uris = {h.name: h.uri for h in engine.config.hosts}
    shown = [_migration(request, m, flavor_ids, uris) for m in found]
    if not at_least(request, 59):
        return {"migrations": shown}
    shown, next_links = page(request, shown, "os-migrations", "uuid")
    return {"migrations": shown, **({"migrations_links": next_links} if next_links else {})}


@versioned
async def list_migrations(request: web.Request) -> web.Response:
    return web.json_response(await off_loop(_migrations, request))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/v2.1/flavors", list_flavors)
    r.add_get("/v2.1/flavors/detail", list_flavors_detail)
    r.add_get("/v2.1/flavors/{flavor_id}", show_flavor)
    r.add_get("/v2.1/flavors/{flavor_id}/os-extra_specs", flavor_extra_specs)
    r.add_get("/v2.1/servers/{server_id}/os-instance-actions", list_instance_actions)
    r.add_get("/v2.1/servers/{server_id}/os-instance-actions/{request_id}", show_instance_action)
    r.add_get("/v2.1/os-migrations", list_migrations)
