"""The hosts table: capacity and health of every compute host."""
from __future__ import annotations

from rich.text import Text

from .diff_table import DiffTable


def _gib(mb: int) -> str:
    return f"{mb / 1024:.0f}"


def _uri(uri: str) -> str:
    """Simulated hosts' node files live deep in the state dir: say what they are."""
    return "test:/// (simulated)" if uri.startswith("test://") else uri


class HostsTable(DiffTable):
    COLUMNS = (("name", "Host"), ("state", "State"), ("enabled", "Enabled"), ("az", "AZ"),
               ("vcpus", "vCPU"), ("ram", "RAM GiB"), ("disk", "Disk GB"), ("instances", "Inst"),
               ("uri", "Hypervisor"))

    def cells(self, h: dict) -> tuple:
        down = h["state"] != "up"
        dim = "dim" if down else ""
        return (Text(h["name"], style=f"bold {dim}".strip()),
                Text(h["state"], style="bold red" if down else "green"),
                Text("yes" if h["enabled"] else "no", style=dim if h["enabled"] else "yellow"),
                Text(h["availability_zone"], style=dim),
                Text(f"{h['vcpus_used']}/{h['vcpus']}", style=dim),
                Text(f"{_gib(h['memory_mb_used'])}/{_gib(h['memory_mb'])}", style=dim),
                Text(f"{h['disk_gb_used']}/{h['disk_gb']}", style=dim),
                Text(str(h["instances"]), style=dim), Text(_uri(h["uri"]), style=dim))

    def is_problem(self, h: dict) -> bool:
        return h["state"] != "up" or not h["enabled"]
