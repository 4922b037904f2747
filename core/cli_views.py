"""What the CLI shows, under the `openstack` CLI's names: rows and records built from the
store's dicts, whichever client (in-process or a service) gave them."""
from __future__ import annotations

import re

from . import states as S
from .cli_output import AddressesColumn, EventsColumn, FaultColumn
from .cli_parser import CLIError
from .views import timestamp as _ts

SERVER_COLUMNS = ["ID", "Name", "Status", "Networks", "Image", "Flavor"]
SERVER_LONG_COLUMNS = ["ID", "Name", "Status", "Task State", "Power State", "Networks", "Image",
                       "Flavor", "Availability Zone", "Host"]
EVENT_COLUMNS = ["Request ID", "Server ID", "Action", "Start Time"]
EVENT_LONG_COLUMNS = [*EVENT_COLUMNS, "Message", "Finish Time", "Events"]
IMAGE_COLUMNS = ["ID", "Name", "Status"]
IMAGE_LONG_COLUMNS = ["ID", "Name", "Disk Format", "Size", "Checksum", "Type", "Status"]
FLAVOR_COLUMNS = ["ID", "Name", "RAM", "Disk", "VCPUs"]
HOST_COLUMNS = ["name", "state", "enabled", "availability_zone", "vcpus_used", "vcpus",
                "memory_mb_used", "memory_mb", "disk_gb_used", "disk_gb", "instances"]


# -- views, with the openstack CLI's names ---------------------------------------------
def _addresses(inst: dict, network: str) -> AddressesColumn:
    return AddressesColumn({network: [inst["ip"]]} if inst.get("ip") else {})


def server_row(inst: dict, network: str) -> dict:
    return {"ID": inst["uuid"], "Name": inst["name"],
            "Status": S.api_status(inst["vm_state"], inst["task_state"]),
            "Task State": inst["task_state"], "Power State": S.power_name(inst["power_state"]),
            "Networks": _addresses(inst, network), "Image": inst["image"],
            "Flavor": inst["flavor"], "Availability Zone": inst["availability_zone"],
            "Host": inst["host"]}


def server_view(inst: dict, fault: dict | None, network: str) -> dict:
    """`openstack server show`'s fields (sorted, as it sorts them). The fault's traceback
    is in -f json/yaml only; the table shows its message."""
    view = {
        "OS-EXT-AZ:availability_zone": inst["availability_zone"],
        "OS-EXT-SRV-ATTR:host": inst["host"],
        "OS-EXT-STS:power_state": S.power_name(inst["power_state"]),
        "OS-EXT-STS:task_state": inst["task_state"],
        "OS-EXT-STS:vm_state": inst["vm_state"],
        "OS-SRV-USG:launched_at": _ts(inst["launched_at"]),
        "addresses": _addresses(inst, network), "created": _ts(inst["created_at"]),
        "fault": FaultColumn(None if fault is None else {
            "code": fault["code"], "created": _ts(fault["created_at"]),
            "message": fault["message"], "details": fault["details"],
            "host": fault["host"], "request_id": fault["request_id"]}),
        "flavor": inst["flavor"], "id": inst["uuid"], "image": inst["image"],
        "locked": bool(inst["locked"]), "name": inst["name"],
        "status": S.api_status(inst["vm_state"], inst["task_state"]),
        "updated": _ts(inst["updated_at"]),
    }
    return dict(sorted(view.items()))


def image_view(i: dict) -> dict:
    return {"checksum": i["checksum"], "created_at": _ts(i["created_at"]),
            "disk_format": i["disk_format"], "id": i["id"], "instance_uuid": i["instance_uuid"],
            "name": i["name"], "size": i["size"], "status": i["status"], "type": i["type"]}


def image_row(i: dict) -> dict:
    return {"ID": i["id"], "Name": i["name"], "Disk Format": i["disk_format"], "Size": i["size"],
            "Checksum": i["checksum"], "Type": i["type"], "Status": i["status"]}


def flavor_view(f: dict) -> dict:
    return {"disk": f["disk_gb"], "id": f["name"], "name": f["name"], "ram": f["ram_mb"],
            "vcpus": f["vcpus"]}


def flavor_row(f: dict) -> dict:
    return {"ID": f["name"], "Name": f["name"], "RAM": f["ram_mb"], "Disk": f["disk_gb"],
            "VCPUs": f["vcpus"]}


def event_row(a: dict, uuid: str) -> dict:
    return {"Request ID": a["request_id"], "Server ID": uuid, "Action": a["action"],
            "Start Time": _ts(a["start_time"]), "Message": a["message"],
            "Finish Time": _ts(a["finish_time"]),
            "Events": EventsColumn([{**e, "start_time": _ts(e["start_time"]),
                                     "finish_time": _ts(e["finish_time"])} for e in a["events"]])}


def host_view(h: dict) -> dict:
    return {k: v for k, v in h.items() if k != "heartbeat"}


def filter_servers(instances: list[dict], args) -> list[dict]:
    if args.status:
        instances = [i for i in instances if S.api_status(i["vm_state"], i["task_state"]).upper()
                     == args.status.upper()]
    if args.name:
        try:
            name = re.compile(args.name)
        except re.error as e:
            raise CLIError(f"novatui server list: --name {args.name!r} is not a regular "
                           f"expression: {e}") from None
        instances = [i for i in instances if name.search(i["name"])]
    return instances
