"""Nova's representations of the store's records (nova/api/openstack/compute/views/), for
the microversion a request asked for. Reads only: the handlers fetch, these shape."""
from __future__ import annotations

import hashlib
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from .. import states as S
from ..config import Config, Flavor
from ..errors import NotFound
from ..hosts import host_views
from ..store import Store
from ..views import timestamp as isotime
from ..virt_xml import domain_name
from .actions_map import shown
from .common import BadRequest, microversion

PROJECT_ID = USER_ID = "admin"   # the store records every request as admin's
ROOT_DEVICE = "/dev/vda"         # core/virt.py's first disk target
FAULT_STATUSES = ("ERROR", "DELETED")
PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")
# Nova's Service / ComputeNode ids from 2.53 are uuids: stable ones per (host, binary)
SERVICE_IDS = uuidlib.UUID("0b6f3a52-4c1e-5d7a-8f2b-9e0d1c3a5b47")
MAX_LIMIT_DIGITS = 9             # a limit beyond 999999999 pages nothing a smaller one does not


def perfect_time(t: float | None) -> str | None:
    """A naive datetime as oslo's jsonutils writes it (2024-01-31T12:00:00.000000)."""
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}"


def at_least(request: web.Request, minor: int) -> bool:
    return microversion(request) >= (2, minor)


def service_uuid(host: str, binary: str) -> str:
    return str(uuidlib.uuid5(SERVICE_IDS, f"{host}/{binary}"))


def is_uuid(text: str) -> bool:
    try:
        uuidlib.UUID(text)
        return True
    except ValueError:
        return False


def host_ip(uri: str) -> str:
    """The address a host is reached at: a remote one's from its URI, else this machine's."""
    return urlsplit(uri).hostname or "127.0.0.1"


def host_id(host: str | None) -> str:
    """Nova's obfuscated hostId (utils.generate_hostid)."""
    return hashlib.sha224((PROJECT_ID + host).encode()).hexdigest() if host else ""


# -- links -----------------------------------------------------------------------------
def base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def links(request: web.Request, collection: str, ident: str) -> list[dict]:
    base = base_url(request)
    return [{"rel": "self", "href": f"{base}/v2.1/{collection}/{ident}"},
            {"rel": "bookmark", "href": f"{base}/{collection}/{ident}"}]


def bookmark(request: web.Request, collection: str, ident: str) -> list[dict]:
    return [{"rel": "bookmark", "href": f"{base_url(request)}/{collection}/{ident}"}]


def limit_param(text: str | None) -> int | None:
    """The `limit` query parameter: None when absent, else a small non-negative integer
    (ASCII digits: '²'.isdigit() holds too); Nova's 400 otherwise."""
    if text is None:
        return None
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise BadRequest("limit param must be an integer")
    if text.startswith("-"):
        raise BadRequest("limit param must be positive")
    if len(text.lstrip("0")) > MAX_LIMIT_DIGITS:
        raise BadRequest(f"limit param must be at most {10 ** MAX_LIMIT_DIGITS - 1}")
    return int(text)


def page(request: web.Request, items: list[dict], collection: str, key: str = "id"
         ) -> tuple[list[dict], list[dict]]:
    """limit and marker as Nova pages (items already in order); the 'next' link when the
    page is full. A marker that names nothing is Nova's 400."""
    limit = limit_param(request.query.get("limit"))
    marker = request.query.get("marker")
    if marker is not None:
        at = next((i for i, item in enumerate(items) if str(item[key]) == marker), None)
        if at is None:
            raise BadRequest(f"marker [{shown(marker)}] not found")
        items = items[at + 1:]
    if limit is None:
        return items, []
    items = items[:limit]
    if not items or len(items) < limit:
        return items, []
    params = {**request.query, "marker": str(items[-1][key])}
    query = urlencode(sorted(params.items()))
    return items, [{"rel": "next", "href": f"{base_url(request)}/v2.1/{collection}?{query}"}]


# -- servers ---------------------------------------------------------------------------
def live_instance(engine, server_id: str) -> dict:
    """Blocking: the instance with this uuid, or Nova's 404 (a name is not an id)."""
    inst = engine.store.get_instance(server_id)
    if inst is None or inst["deleted_at"] is not None:
        raise NotFound(f"Instance {shown(server_id)} could not be found.")
    return inst


@dataclass
class Cloud:
    """What server views need besides the instance: the hosts' services and faults."""
    config: Config
    hosts: dict[str, dict]                       # host_views by name
    forced_down: dict[str, bool]
    faults: dict[str, dict | None] = field(default_factory=dict)


def read_cloud(config: Config, store: Store, instances: list[dict]) -> Cloud:
    """Blocking: one look at the hosts, and the faults of the instances that show one."""
    cloud = Cloud(config, {v["name"]: v for v in host_views(config, store)},
                  {h: bool(s.get("forced_down")) for h, s in store.services().items()})
    for inst in instances:
        if status(inst) in FAULT_STATUSES:
            cloud.faults[inst["uuid"]] = store.last_fault(inst["uuid"])
    return cloud


def status(inst: dict) -> str:
    return "DELETED" if inst.get("deleted_at") else S.api_status(inst["vm_state"],
                                                                 inst["task_state"])


def server_basic(request: web.Request, inst: dict) -> dict:
    return {"id": inst["uuid"], "name": inst["name"],
            "links": links(request, "servers", inst["uuid"])}


def _host_status(cloud: Cloud, host: str | None) -> str:
    view = cloud.hosts.get(host or "")
    if view is None:
        return ""
    if cloud.forced_down.get(host):
        return "DOWN"
    if not view["enabled"]:
        return "MAINTENANCE"
    return "UP" if view["state"] == "up" else "UNKNOWN"


def _flavor(request: web.Request, inst: dict) -> dict:
    if at_least(request, 47):
        return {"vcpus": inst["vcpus"], "ram": inst["memory_mb"], "disk": inst["root_gb"],
                "ephemeral": 0, "swap": 0, "original_name": inst["flavor"], "extra_specs": {}}
    return {"id": inst["flavor"], "links": bookmark(request, "flavors", inst["flavor"])}


def _addresses(inst: dict, network: str, extended: bool) -> dict:
    if inst["vm_state"] == S.BUILDING or not inst.get("ip"):
        return {}
    addr = {"version": 4, "addr": inst["ip"]}
    if extended:  # no guest has a NIC (novatui allocates addresses only): no MAC
        addr.update({"OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": None})
    return {network: [addr]}


def _fault(fault: dict | None) -> dict | None:
    if fault is None:
        return None
    out = {"code": fault["code"], "created": isotime(fault["created_at"]),
           "message": fault["message"]}
    if fault.get("details"):
        out["details"] = fault["details"]
    return out


def server_show(request: web.Request, inst: dict, cloud: Cloud, full: bool = True,
                in_list: bool = False) -> dict:
    """Nova's detailed server (views/servers.py show) as an admin sees it. full=False is the
    smaller rebuild response before 2.75; in_list leaves out what the detail list omits."""
    uuid, st = inst["uuid"], status(inst)
    image_id = inst.get("image_id")
    server = {
        "accessIPv4": "", "accessIPv6": "",
        "addresses": _addresses(inst, cloud.config.network_name, full),
        "created": isotime(inst["created_at"]), "flavor": _flavor(request, inst),
        "hostId": host_id(inst["host"]), "id": uuid,
        "image": {"id": image_id, "links": bookmark(request, "images", image_id)}
        if image_id else "",
        "links": links(request, "servers", uuid), "metadata": {}, "name": inst["name"],
        "status": st, "tenant_id": PROJECT_ID, "user_id": USER_ID,
        "updated": isotime(inst["updated_at"]), "OS-DCF:diskConfig": "MANUAL",
    }
    if st in FAULT_STATUSES and cloud.faults.get(uuid):
        server["fault"] = _fault(cloud.faults[uuid])
    if st in PROGRESS_STATUSES:
        server["progress"] = inst.get("progress") or 0
    if full:
        server.update({
            "OS-EXT-AZ:availability_zone": _zone(cloud, inst), "config_drive": "",
            "key_name": None,
            "OS-SRV-USG:launched_at": perfect_time(inst["launched_at"]),
            "OS-SRV-USG:terminated_at": perfect_time(inst.get("deleted_at")),
            "OS-EXT-SRV-ATTR:host": inst["host"],
            "OS-EXT-SRV-ATTR:instance_name": domain_name(uuid),
            "OS-EXT-SRV-ATTR:hypervisor_hostname": inst["host"],
            "OS-EXT-STS:task_state": inst["task_state"], "OS-EXT-STS:vm_state": inst["vm_state"],
            "OS-EXT-STS:power_state": inst["power_state"] or 0,
            "os-extended-volumes:volumes_attached": []})
        if at_least(request, 3):
            server.update({"OS-EXT-SRV-ATTR:hostname": inst["name"],
                           "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:launch_index": 0,
                           "OS-EXT-SRV-ATTR:ramdisk_id": "", "OS-EXT-SRV-ATTR:reservation_id": "",
                           "OS-EXT-SRV-ATTR:root_device_name": ROOT_DEVICE,
                           "OS-EXT-SRV-ATTR:user_data": None})
        if at_least(request, 16):
            server["host_status"] = _host_status(cloud, inst["host"])
    if at_least(request, 9):
        server["locked"] = bool(inst["locked"])
    if at_least(request, 19):
        server["description"] = None
    if at_least(request, 26):
        server["tags"] = []
    if at_least(request, 63):
        server["trusted_image_certificates"] = None
    if at_least(request, 71) and not in_list and full:
        server["server_groups"] = []
    if at_least(request, 73):
        server["locked_reason"] = None   # novatui's lock takes no reason
    return server


def _zone(cloud: Cloud, inst: dict) -> str:
    """The zone of the instance's host (Nova's get_instance_availability_zone), else the one
    asked for."""
    view = cloud.hosts.get(inst["host"] or "")
    return (view["availability_zone"] if view else inst["availability_zone"]) or ""


# -- flavors ---------------------------------------------------------------------------
def flavor_basic(request: web.Request, f: Flavor) -> dict:
    out = {"id": f.name, "name": f.name, "links": links(request, "flavors", f.name)}
    if at_least(request, 55):
        out["description"] = None
    return out


def flavor_show(request: web.Request, f: Flavor) -> dict:
    out = {"id": f.name, "name": f.name, "ram": f.ram_mb, "disk": f.disk_gb,
           "swap": 0 if at_least(request, 75) else "", "OS-FLV-EXT-DATA:ephemeral": 0,
           "OS-FLV-DISABLED:disabled": False, "vcpus": f.vcpus,
           "os-flavor-access:is_public": True, "rxtx_factor": 1.0,
           "links": links(request, "flavors", f.name)}
    if at_least(request, 55):
        out["description"] = None
    if at_least(request, 61):
        out["extra_specs"] = {}
    return out
