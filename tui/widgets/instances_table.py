"""The instances table: one row per instance, keyed by uuid."""
from __future__ import annotations

import time

from rich.text import Text

from core import states as S

from .diff_table import DiffTable

STATUS_STYLE = {"ACTIVE": "green", "ERROR": "bold red", "PAUSED": "yellow", "SUSPENDED": "yellow",
                "SHUTOFF": "grey62", "BUILD": "cyan", "VERIFY_RESIZE": "magenta",
                "RESCUE": "magenta", "SHELVED_OFFLOADED": "blue", "SHELVED": "blue"}
STUCK_SECONDS = 300


def age(created: float, now: float | None = None) -> str:
    secs = max(0, int((now or time.time()) - created))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def _task(i: dict) -> str:
    """The transient task, with a disk copy's progress while it runs."""
    if not i["task_state"]:
        return ""
    progress = i.get("progress")
    return f"{i['task_state']} {progress}%" if progress is not None else i["task_state"]


class InstancesTable(DiffTable):
    COLUMNS = (("name", "Name"), ("id", "ID"), ("status", "Status"), ("task", "Task"),
               ("power", "Power"), ("host", "Host"), ("flavor", "Flavor"), ("image", "Image"),
               ("ip", "IP"), ("age", "Age"))
    WIDTHS = {"status": 17, "task": 20, "power": 8}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.down_hosts: set[str] = set()

    def cells(self, i: dict) -> tuple:
        status = S.api_status(i["vm_state"], i["task_state"])
        dim = "dim" if i.get("host") in self.down_hosts else ""
        mark = "● " if i["uuid"] in self.marked else ""
        lock = " [L]" if i.get("locked") else ""
        return (Text(mark + i["name"] + lock, style=dim), Text(i["uuid"][:8], style=dim),
                Text(status, style=f"{STATUS_STYLE.get(status, '')} {dim}".strip()),
                Text(_task(i), style=f"bold cyan {dim}".strip() if i["task_state"] else dim),
                Text(S.power_name(i["power_state"]), style=dim), Text(i.get("host") or "", style=dim),
                Text(i["flavor"], style=dim), Text(i.get("image") or "", style=dim),
                Text(i.get("ip") or "", style=dim), Text(age(i["created_at"]), style=dim))

    def refresh_ages(self) -> None:
        """The age column alone, every so often: no other cell is rebuilt."""
        now = time.time()
        age_at = [k for k, _ in self.COLUMNS].index("age")
        with self.app.batch_update():
            for key, shown in self._shown.items():
                text = age(self.records[key]["created_at"], now)
                if shown[age_at].plain != text:
                    cell = Text(text, style=shown[age_at].style)
                    self.update_cell(key, "age", cell)
                    self._shown[key] = shown[:age_at] + (cell,) + shown[age_at + 1:]

    def is_problem(self, i: dict) -> bool:
        stuck = i["task_state"] is not None and time.time() - (i["updated_at"] or 0) > STUCK_SECONDS
        return i["vm_state"] == S.ERROR or stuck or i.get("host") in self.down_hosts
