"""Reading the console's screen as text: the rows of the instances and hosts tables, cut at
the columns their header line shows, and whether the first rows were painted garbled."""
from __future__ import annotations

import re

_ID = re.compile(r"[0-9a-f]{8}")


def _table(screen: str, title: str) -> list[str]:
    """The lines inside the bordered table titled `title` (header first)."""
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"╭─ {title} \d", line):
            out = []
            for body in lines[i + 1:]:
                if body.startswith("╰"):
                    break
                out.append(body)
            return out
    return []


def _cells(header: str, line: str) -> dict[str, str]:
    starts = [(m.start(), m.group()) for m in re.finditer(r"\S+", header[1:].rstrip(" │"))]
    out = {}
    for i, (start, label) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else None
        out[label] = line[1:][start:end].strip().rstrip("│▁▂▃▄▅▆▇█").strip()
    return out


def rows(screen: str, title: str) -> dict[str, dict[str, str]]:
    """{first cell: {column label: text}} of the table's visible rows."""
    lines = _table(screen, title)
    if not lines:
        return {}
    header, body = lines[0], lines[1:]
    out = {}
    for line in body:
        cells = _cells(header, line)
        first = next(iter(cells.values()), "")
        if first:
            out[first] = cells
    return out


def instance_count(screen: str) -> int | None:
    m = re.search(r"╭─ instances (\d+)", screen)
    return int(m.group(1)) if m else None


def garbled_rows(screen: str, name_re: str = r"vm\d{4,5}") -> list[str]:
    """The visible instance rows whose cells do not sit under their header: a name cut short
    or an ID that is not 8 hex digits (a row painted before the widths were measured)."""
    bad = []
    for line in _table(screen, "instances")[1:]:
        cells = list(_cells(_table(screen, "instances")[0], line).values())
        if len(cells) < 2 or not cells[0]:
            continue
        if not re.fullmatch(name_re, cells[0]) or not _ID.fullmatch(cells[1]):
            bad.append(line.rstrip())
    return bad


def full_table(n: int, first: str):
    """A screen predicate: the instances table says n and shows the row `first`."""
    return lambda s: instance_count(s) == n and first in rows(s, "instances")


def instance_status(name: str, status: str):
    return lambda s: rows(s, "instances").get(name, {}).get("Status") == status


def host_cell(name: str, column: str, value: str):
    """The hosts row's cell reads `value` (a disabled host's reason follows a colon)."""
    return lambda s: rows(s, "hosts").get(name, {}).get(column, "").split(":")[0] == value
