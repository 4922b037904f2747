"""How instances are shown to people and scripts: the fields of `server list` and
`server show`, shared by the CLI and the console."""
from __future__ import annotations

import time

from . import states as S


def timestamp(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def addresses(inst: dict) -> str:
    return f"private={inst['ip']}" if inst.get("ip") else ""


def server_detail(inst: dict, fault: dict | None, network: str = "private") -> dict:
    return {
        "id": inst["uuid"], "name": inst["name"],
        "status": S.api_status(inst["vm_state"], inst["task_state"]),
        "vm_state": inst["vm_state"], "task_state": inst["task_state"],
        "power_state": S.power_name(inst["power_state"]), "host": inst["host"],
        "availability_zone": inst["availability_zone"], "flavor": inst["flavor"],
        "image": inst["image"], "addresses": {network: [inst["ip"]]} if inst.get("ip") else {},
        "locked": inst["locked"], "created": timestamp(inst["created_at"]),
        "launched_at": timestamp(inst["launched_at"]), "updated": timestamp(inst["updated_at"]),
        "fault": None if fault is None else {
            "code": fault["code"], "created": timestamp(fault["created_at"]),
            "message": fault["message"], "details": fault["details"],
            "host": fault["host"], "request_id": fault["request_id"]},
    }
