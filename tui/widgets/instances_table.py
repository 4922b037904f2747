"""The instances table: one row per instance, keyed by uuid."""
from __future__ import annotations

import time

from rich.text import Text
from textual.timer import Timer

from core import states as S

from .diff_table import DiffTable, SortText

STATUS_STYLE = {"ACTIVE": "green", "ERROR": "bold red", "PAUSED": "yellow", "SUSPENDED": "yellow",
                "SHUTOFF": "grey62", "BUILD": "cyan", "VERIFY_RESIZE": "magenta",
                "RESCUE": "magenta", "SHELVED_OFFLOADED": "blue", "SHELVED": "blue"}
STUCK_SECONDS = 300
AGE_MARGIN = 0.01   # an age is refreshed this long after its text changes, not before
SHARED_CELLS = 4096  # distinct (text, style) cells kept for sharing between rows


_AGE_UNITS = (("d", 86400), ("h", 3600), ("m", 60))


def age(created: float, now: float | None = None) -> str:
    secs = max(0, int((now or time.time()) - created))
    for unit, size in _AGE_UNITS:
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def age_changes_in(created: float, now: float) -> float:
    """Seconds until age(created) reads otherwise: 1 s while in seconds, up to a day."""
    secs = max(0.0, now - created)
    size = next((size for _, size in _AGE_UNITS if secs >= size), 1)
    return size - secs % size


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
    HIDE_ORDER = ("id", "image", "power", "flavor", "age", "host", "ip")
    MIN_WIDTHS = {"name": 16, "task": 10, "image": 8, "host": 8}
    WANT_WIDTHS = {"name": 32}  # names up to 32 read in full while columns can be hidden

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.down_hosts: set[str] = set()
        self._shared: dict[tuple[str, str], Text] = {}
        self._ages_at: float | None = None   # when the ages are refreshed next
        self._ages_timer: Timer | None = None

    def cells(self, i: dict) -> tuple:
        status = S.api_status(i["vm_state"], i["task_state"])
        dim = "dim" if i.get("host") in self.down_hosts else ""
        mark = "● " if i["uuid"] in self.marked else ""
        lock = " [L]" if i.get("locked") else ""
        shared = self._cell
        return (Text(mark + i["name"] + lock, style=dim), Text(i["uuid"][:8], style=dim),
                shared(status, f"{STATUS_STYLE.get(status, '')} {dim}".strip()),
                shared(_task(i), f"bold cyan {dim}".strip() if i["task_state"] else dim),
                shared(S.power_name(i["power_state"]), dim), shared(i.get("host") or "", dim),
                shared(i["flavor"], dim), shared(i.get("image") or "", dim),
                Text(i.get("ip") or "", style=dim), self._age(i, time.time(), dim))

    def _age(self, i: dict, now: float, style: str) -> SortText:
        """Sorted by how old it is, not by its text (53s before 26m); its next change of
        text is planned."""
        self._plan_ages(now + age_changes_in(i["created_at"], now))
        return SortText(age(i["created_at"], now), -i["created_at"], style=style)

    def _plan_ages(self, at: float) -> None:
        """The ages are refreshed when the first of them changes its text, not on a
        steady tick: an idle console with hour-old instances wakes once an hour for them."""
        if self._ages_at is not None and self._ages_at <= at:
            return
        if self._ages_timer is not None:
            self._ages_timer.stop()
        self._ages_at = at
        self._ages_timer = self.set_timer(max(0.0, at - time.time()) + AGE_MARGIN,
                                          self._ages_due)

    def _ages_due(self) -> None:
        self._ages_at = self._ages_timer = None   # it has fired
        self.refresh_ages()

    def on_diff_table_view_moved(self, _: DiffTable.ViewMoved) -> None:
        self.refresh_ages()   # rows scrolled into view may show ages of long ago

    def _cell(self, text: str, style: str) -> Text:
        """A cell whose text repeats from row to row (a status, a host, a flavor): one Text
        for all of them, made once (a cell is never changed in place: a change is a new
        cell). Tens of thousands fewer objects to make at the first picture."""
        cell = self._shared.get((text, style))
        if cell is None:
            if len(self._shared) >= SHARED_CELLS:
                self._shared.clear()
            cell = self._shared[text, style] = Text(text, style=style)
        return cell

    def refresh_ages(self) -> None:
        """The age cells alone, of the rows on screen, when one of them changes its text
        or the view moves: no other cell is rebuilt, only the ages whose text changed are
        sent to the table (sorting goes by the creation time, not by the text). The cost
        stays that of one screenful, whatever the number of rows."""
        if self._ages_timer is not None:
            self._ages_timer.stop()
        self._ages_at = self._ages_timer = None   # planned anew by the ages made below
        now = time.time()
        at = self._keys.index("age")
        new = {}
        for row in self.rows_on_screen():
            key = row.key.value
            shown = self._shown[key]
            cell = self._age(self.records[key], now, shown[at].style)
            if shown[at].plain != cell.plain:
                new[key] = cell
        if new:
            self.set_cells("age", new)

    def is_problem(self, i: dict) -> bool:
        stuck = i["task_state"] is not None and time.time() - (i["updated_at"] or 0) > STUCK_SECONDS
        return i["vm_state"] == S.ERROR or stuck or i.get("host") in self.down_hosts
