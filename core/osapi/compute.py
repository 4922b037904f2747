"""Nova's Compute API, the servers part: version discovery, list/show/create/delete and
POST /servers/{id}/action (flavors, instance actions and migrations are in compute_admin.py,
hypervisors and services in compute_hosts.py). Requests that change something are taken
one at a time (common.api_call), with the HTTP request id as the request's (and its
instance action's)."""
from __future__ import annotations

import re

from aiohttp import web

from ..actions import ACTIONS
from ..errors import NotFound
from . import compute_admin, compute_hosts
from .actions_map import (action_from_body, check_objects, check_string, check_type, invalid,
                          ref_id, shown, shown_repr)
from .common import (MAX_VERSION, MIN_VERSION, BadRequest, api_call, engine as engine_of,
                     json_body, off_loop, request_id, version_string, versioned)
from .nova_views import (at_least, base_url, links, live_instance, page, read_cloud,
                         server_basic, server_show, status)

DONE_HEADER = "X-Novatui-Done"     # the request finished at once (nothing left to wait for)
KNOWN_STATUSES = frozenset({
    "ACTIVE", "BUILD", "DELETED", "ERROR", "HARD_REBOOT", "MIGRATING", "PASSWORD", "PAUSED",
    "REBOOT", "REBUILD", "RESCUE", "RESIZE", "REVERT_RESIZE", "SHELVED", "SHELVED_OFFLOADED",
    "SHUTOFF", "SOFT_DELETED", "SUSPENDED", "UNKNOWN", "VERIFY_RESIZE"})


# -- version discovery (not under microversion control) ---------------------------------
def _version() -> dict:
    return {"id": "v2.1", "status": "CURRENT", "version": version_string(MAX_VERSION),
            "min_version": version_string(MIN_VERSION), "updated": "2013-07-23T11:33:21Z"}


async def versions(request: web.Request) -> web.Response:
    return web.json_response({"versions": [{
        **_version(), "links": [{"rel": "self", "href": f"{base_url(request)}/v2.1/"}]}]})


async def version_v21(request: web.Request) -> web.Response:
    return web.json_response({"version": {
        **_version(),
        "links": [{"rel": "self", "href": f"{base_url(request)}/v2.1/"},
                  {"rel": "describedby", "type": "text/html",
                   "href": "http://docs.openstack.org/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.compute+json;version=2.1"}]}})


# -- lookups ---------------------------------------------------------------------------
def image_id(engine, ref: str) -> str:
    """Blocking: the id of the image a request names; Nova's 400 when there is none."""
    try:
        return engine.images.get(str(ref))["id"]
    except NotFound:
        raise BadRequest(f"Image {shown(ref)} could not be found.") from None


# -- servers ---------------------------------------------------------------------------
def _filter(request: web.Request, instances: list[dict]) -> list[dict]:
    q = request.query
    if "status" in q:
        wanted = q["status"].upper()
        if wanted not in KNOWN_STATUSES and at_least(request, 38):
            raise BadRequest("Invalid status value")
        instances = [i for i in instances if status(i) == wanted]
    for key, regex_of in (("name", "name"), ("ip", "ip")):
        if key in q:
            try:
                regex = re.compile(q[key])
            except re.error:
                raise BadRequest(f"Invalid regular expression for '{key}': "
                                 f"{shown(q[key])}") from None
            instances = [i for i in instances if regex.search(i[regex_of] or "")]
    for key, field in (("host", "host"), ("node", "host"), ("flavor", "flavor"),
                       ("image", "image_id"), ("availability_zone", "availability_zone")):
        if key in q:
            instances = [i for i in instances if i[field] == q[key].rsplit("/", 1)[-1]]
    return instances


def _list_servers(request: web.Request, engine, detail: bool) -> dict:
    store = engine.store
    deleted = request.query.get("deleted", "").lower() in ("1", "true", "yes", "on")
    if deleted:
        instances = [i for i in store.changed_since(0) if i["deleted_at"] is not None]
    else:
        instances = store.list_instances()
    instances = _filter(request, instances)
    instances.sort(key=lambda i: i["created_at"], reverse=True)   # Nova: created_at desc
    collection = "servers/detail" if detail else "servers"
    instances, next_links = page(request, instances, collection, "uuid")
    if detail:
        cloud = read_cloud(engine.config, store, instances)
        body = {"servers": [server_show(request, i, cloud, in_list=True) for i in instances]}
    else:
        body = {"servers": [server_basic(request, i) for i in instances]}
    if next_links:
        body["servers_links"] = next_links
    return body


@versioned
async def list_servers(request: web.Request) -> web.Response:
    return web.json_response(await off_loop(_list_servers, request, engine_of(request), False))


@versioned
async def list_servers_detail(request: web.Request) -> web.Response:
    return web.json_response(await off_loop(_list_servers, request, engine_of(request), True))


def _show(request: web.Request, engine, server_id: str, full: bool = True) -> dict:
    inst = live_instance(engine, server_id)
    return {"server": server_show(request, inst, read_cloud(engine.config, engine.store, [inst]),
                                  full=full)}


@versioned
async def show_server(request: web.Request) -> web.Response:
    return web.json_response(await off_loop(_show, request, engine_of(request),
                                            request.match_info["server_id"]))


def _image_boot_only(server: dict) -> bool:
    """No block device mapping, or only the image's local disk (what `openstack server
    create --image` sends). The types are checked (_check_types)."""
    bdms = server.get("block_device_mapping_v2") or []
    return not bdms or (len(bdms) == 1 and bdms[0].get("source_type") == "image"
                        and bdms[0].get("destination_type", "local") == "local"
                        and bdms[0].get("uuid") == server.get("imageRef")
                        and str(bdms[0].get("boot_index", 0)) == "0")


# What a create body may hold: the rest is refused unless empty (a key pair, user data,
# scheduler hints... that novatui would otherwise silently not honour).
CREATE_KEYS = frozenset({"name", "flavorRef", "imageRef", "availability_zone", "networks",
                         "min_count", "max_count", "block_device_mapping_v2",
                         "OS-DCF:diskConfig", "security_groups"})


DISK_CONFIGS = ("AUTO", "MANUAL")


def _check_types(server: dict) -> None:
    """The types Nova's create schema gives (servers.py base_create), as its 400s: strings
    where it wants strings, lists of objects where it wants them."""
    check_string("name", server["name"], min_length=1)
    check_type("flavorRef", server["flavorRef"], str, int)
    if server.get("imageRef") is not None:   # an id, or an href ending in one
        check_type("imageRef", server["imageRef"], str)
    if server.get("availability_zone") is not None:
        check_string("availability_zone", server["availability_zone"])
    for key in ("security_groups", "block_device_mapping_v2"):
        if server.get(key) is not None:
            check_objects(key, server[key])
    if server.get("networks") is not None:   # 'auto', 'none' or a list of networks
        if not isinstance(check_type("networks", server["networks"], str, list), str):
            check_objects("networks", server["networks"])
    for key in ("min_count", "max_count"):
        if server.get(key) is not None:
            check_type(key, server[key], int, str)
    disk_config = server.get("OS-DCF:diskConfig")
    if disk_config is not None and disk_config not in DISK_CONFIGS:
        raise invalid("OS-DCF:diskConfig", disk_config,
                      f"{shown_repr(disk_config)} is not one of {list(DISK_CONFIGS)}")


def _unsupported(server: dict, body: dict) -> str | None:
    """The first key of a create body that novatui cannot honour, or None."""
    for key, value in [*server.items(), *body.items()]:
        if key not in CREATE_KEYS | {"server"} and value not in (None, "", {}, [], False):
            return key
    honoured = {
        "networks": server.get("networks", "auto") == "auto",  # one address, one network
        "security_groups": all(g == {"name": "default"}
                               for g in server.get("security_groups") or []),
        "min_count": str(server.get("min_count", 1)) == "1",
        "max_count": str(server.get("max_count", 1)) == "1",
        "block_device_mapping_v2": _image_boot_only(server),
        "availability_zone": ":" not in (server.get("availability_zone") or ""),  # az:host
    }
    return next((key for key, ok in honoured.items() if not ok), None)


def _create_args(engine, body: dict) -> tuple[str, str, str, str | None]:
    """Blocking: name, flavor, image id, zone of a create body; Nova's 400s."""
    server = body.get("server")
    if not isinstance(server, dict):
        raise BadRequest("Invalid input for field/attribute server: 'server' is a required "
                         "property")
    for key in ("name", "flavorRef"):
        if key not in server:
            raise invalid("server", server, f"'{key}' is a required property")
    _check_types(server)
    unsupported = _unsupported(server, body)
    if unsupported is not None:
        raise BadRequest(f"Invalid input for field/attribute server: '{shown(unsupported)}' "
                         f"{shown_repr(server.get(unsupported, body.get(unsupported)))} is not "
                         "supported by novatui")
    flavor = ref_id(server["flavorRef"])
    if flavor not in engine.config.flavors:
        raise BadRequest(f"Flavor {shown(flavor)} could not be found.")
    if not server.get("imageRef"):
        raise BadRequest("Block Device Mapping is Invalid: Boot sequence for the instance and "
                         "image/block device mapping combination is not valid.")
    zone = server.get("availability_zone") or None
    return server["name"], flavor, image_id(engine, ref_id(server["imageRef"])), zone


@versioned
async def create_server(request: web.Request) -> web.Response:
    engine = engine_of(request)
    body = await json_body(request)
    name, flavor, image, zone = await off_loop(_create_args, engine, body)
    req = await api_call(request, engine.api.create, name, flavor, image, zone,
                         ctx=request_id(request))
    server = {"id": req.instance_uuid, "links": links(request, "servers", req.instance_uuid),
              "OS-DCF:diskConfig": "MANUAL",
              "security_groups": body["server"].get("security_groups") or [{"name": "default"}]}
    response = web.json_response({"server": server}, status=202)
    response.headers["Location"] = server["links"][0]["href"]
    return response


def _done(response: web.StreamResponse, req) -> web.StreamResponse:
    if req.done:
        response.headers[DONE_HEADER] = "1"
    return response


@versioned
async def delete_server(request: web.Request) -> web.Response:
    engine = engine_of(request)
    inst = await off_loop(live_instance, engine, request.match_info["server_id"])
    req = await api_call(request, engine.api.perform, "delete", inst["uuid"],
                         ctx=request_id(request))
    return _done(web.Response(status=204), req)


def _snapshot(engine, uuid: str, ctx: str, params: dict):
    """As one API request: the snapshot, and the queued image it made (no other request
    can run in between, the API taking one at a time)."""
    req = engine.api.perform("snapshot", uuid, ctx=ctx, **params)
    made = [i for i in engine.store.list_images()
            if i["instance_uuid"] == uuid and i["name"] == params.get("name")]
    return req, max(made, key=lambda i: i["created_at"])["id"]


@versioned
async def server_action(request: web.Request) -> web.StreamResponse:
    engine, rid = engine_of(request), request_id(request)
    server_id = request.match_info["server_id"]
    name, params = action_from_body(await json_body(request))
    if name == "evacuate" and at_least(request, 95):  # Nova: the guest arrives stopped
        params["target_state"] = "stopped"
    if "image" not in params and name != "snapshot":  # the lookup and the action: one hop
        req = await api_call(request, _perform, engine, server_id, name, rid, params)
        return await _action_response(request, engine, name, req)
    inst = await off_loop(live_instance, engine, server_id)
    if "image" in params:
        params["image"] = await off_loop(image_id, engine, params["image"])
    if name == "snapshot":
        req, image = await api_call(request, _snapshot, engine, inst["uuid"], rid, params)
        if at_least(request, 45):
            return _done(web.json_response({"image_id": image}, status=202), req)
        response = web.Response(status=202)
        response.headers["Location"] = f"{base_url(request)}/image/v2/images/{image}"
        return _done(response, req)
    req = await api_call(request, engine.api.perform, name, inst["uuid"], ctx=rid, **params)
    return await _action_response(request, engine, name, req)


def _perform(engine, server_id: str, name: str, ctx: str, params: dict):
    """As one API request: the action, taken with no read before; when nothing was taken,
    Nova's 404 for an instance that is not there, then the refusal."""
    taken = engine.api.perform_taking_first(name, server_id, ctx=ctx, **params)
    if taken is not None:
        return taken
    return engine.api.perform_on(name, live_instance(engine, server_id), ctx=ctx, **params)


async def _action_response(request: web.Request, engine, name: str, req) -> web.StreamResponse:
    if name == "rebuild":
        view = await off_loop(_show, request, engine, req.instance_uuid, at_least(request, 75))
        response = web.json_response(view, status=202)
        response.headers["Location"] = view["server"]["links"][0]["href"]
    elif name == "rescue":      # 200 for backwards compatibility; no admin password here
        response = web.json_response({}, status=200)
    elif name == "evacuate":    # 200, and no body: no admin password here either
        response = web.Response(status=200)
    else:
        response = web.Response(status=ACTIONS[name].http_status)
    return _done(response, req)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/", versions)
    for path in ("/v2.1", "/v2.1/"):
        r.add_get(path, version_v21)
    r.add_get("/v2.1/servers", list_servers)
    r.add_get("/v2.1/servers/detail", list_servers_detail)
    r.add_post("/v2.1/servers", create_server)
    r.add_get("/v2.1/servers/{server_id}", show_server)
    r.add_delete("/v2.1/servers/{server_id}", delete_server)
    r.add_post("/v2.1/servers/{server_id}/action", server_action)
    compute_admin.setup(app)
    compute_hosts.setup(app)
