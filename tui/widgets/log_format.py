"""How a pane shows a log line: the file's fields without the date, pid and user, ids cut to
8 digits with the instance's name beside them, the n-cpu host in a column of its own, the
level padded so the messages line up; the `all` pane adds the service column."""
from __future__ import annotations

import time

from core.logs import LogLine

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LEVEL_WIDTH = max(len(lv) for lv in LEVELS)
SERVICE_WIDTH = 5


def pane_line(line: LogLine, host: str | None, name: str | None, host_width: int,
              with_service: bool) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(line.time)) + f".{int(line.time * 1000) % 1000:03d}"
    ctx = f"[{line.request_id[:12]}]" if line.request_id else "[-]"
    inst = ""
    if line.instance:
        inst = f"[instance: {line.instance[:8]}{' ' + name if name else ''}] "
    head = f"{line.service:<{SERVICE_WIDTH}} " if with_service else ""
    hosts = f"{host or '':<{host_width}} " if host_width else ""
    return f"{head}{hosts}{stamp} {line.level:<{LEVEL_WIDTH}} {line.logger} {ctx} {inst}{line.message}"


def wrap(text: str, width: int, indent: int = 4) -> list[str]:
    """Cut at the pane's width; continuation lines are indented."""
    if width <= indent + 8 or len(text) <= width:
        return [text]
    out = [text[:width]]
    rest, room = text[width:], width - indent
    while rest:
        out.append(" " * indent + rest[:room])
        rest = rest[room:]
    return out
