"""The hosts table: capacity and health of every compute host.

Capacity is what the scheduler sees: used / limit after the allocation ratios (Ram, Core
and DiskFilter's), exact (512 MB is `512M`, not `0` GiB), with the share used, coloured as
the host fills up."""
from __future__ import annotations

from rich.text import Text

from .diff_table import DiffTable, SortText

WARN_AT, FULL_AT = 0.75, 0.9   # yellow, then red


def _num(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def _mb(mb: float) -> str:
    """MiB below a GiB, else GiB with one decimal where it is not whole."""
    return f"{_num(mb)}M" if mb < 1024 else f"{_num(round(mb / 1024, 1))}G"


def _share(used: float, limit: float) -> str:
    if limit <= 0:
        return "-"
    pct = 100 * used / limit
    return "<1%" if 0 < pct < 1 else f"{pct:.0f}%"


def capacity(used: float, limit: float, fmt, dim: str) -> SortText:
    """`used/limit pct%`, sorted by the share used, yellow then red as it fills."""
    share = used / limit if limit > 0 else 1.0
    colour = "bold red" if share >= FULL_AT else "yellow" if share >= WARN_AT else ""
    return SortText(f"{fmt(used)}/{fmt(limit)} {_share(used, limit)}", share,
                    style=f"{colour} {dim}".strip())


def _uri(uri: str) -> str:
    """Simulated hosts' node files live deep in the state dir: say what they are."""
    return "test:/// (simulated)" if uri.startswith("test://") else uri


class HostsTable(DiffTable):
    COLUMNS = (("name", "Host"), ("state", "State"), ("status", "Status"), ("az", "AZ"),
               ("vcpus", "vCPU"), ("ram", "RAM"), ("disk", "Disk"), ("instances", "Inst"),
               ("uri", "Hypervisor"))
    HIDE_ORDER = ("uri", "az", "instances", "state")
    MIN_WIDTHS = {"status": 24, "uri": 10}  # a disabled reason reads in full up to 24

    def ratios(self) -> tuple[float, float, float]:
        """The scheduler's (cpu, ram, disk) allocation ratios, as the client's info says."""
        ratios = (getattr(self.app, "info", None) or {}).get("allocation_ratios")
        return tuple(ratios) if ratios else (1.0, 1.0, 1.0)

    def cells(self, h: dict) -> tuple:
        down = h["state"] == "down"   # "starting": this console's service brings it up
        dim = "dim" if down else ""
        state_style = {"up": "green", "down": "bold red"}.get(h["state"], "yellow")
        cpu, ram, disk = self.ratios()
        if h["enabled"]:
            status = Text("enabled", style=dim)
        else:
            reason = h.get("disabled_reason")
            status = Text("disabled" + (f": {reason}" if reason else ""), style="yellow")
        return (Text(h["name"], style=f"bold {dim}".strip()),
                Text(h["state"], style=state_style),
                status,
                Text(h["availability_zone"], style=dim),
                capacity(h["vcpus_used"], h["vcpus"] * cpu, _num, dim),
                capacity(h["memory_mb_used"], h["memory_mb"] * ram, _mb, dim),
                capacity(h["disk_gb_used"], h["disk_gb"] * disk, lambda g: f"{_num(g)}G", dim),
                Text(str(h["instances"]), style=dim), Text(_uri(h["uri"]), style=dim))

    def is_problem(self, h: dict) -> bool:
        return h["state"] == "down" or not h["enabled"]
