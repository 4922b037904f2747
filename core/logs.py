"""Log lines in oslo.log's format, written to <state-dir>/logs/n-{api,sch,cpu}.log and handed
to the engine's listeners (the console's panes)."""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

SERVICES = ("n-api", "n-sch", "n-cpu")
# oslo.log's user_identity: user, project, domain, user domain, project domain
USER_IDENTITY = "admin admin - - default default"
PID = os.getpid()


@dataclass(frozen=True, slots=True)
class LogLine:
    service: str                # n-api | n-sch | n-cpu
    time: float
    level: str                  # DEBUG INFO WARNING ERROR
    logger: str                 # nova.compute.manager, ...
    message: str
    request_id: str | None = None
    instance: str | None = None
    # The compute host of an n-cpu line. In memory only: the files keep oslo.log's own line
    # (no host), as one n-cpu.log per host would; a pane shows it beside the line. Lines
    # read back from a file have it only when an older file put it at the head of the line.
    host: str | None = None
    pid: int = PID

    def format(self) -> str:
        """`%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [ctx] %(instance)s%(message)s`"""
        stamp = _asctime(self.time)
        msecs = int(self.time * 1000) % 1000
        ctx = f"[None {self.request_id} {USER_IDENTITY}]" if self.request_id else "[-]"
        inst = f"[instance: {self.instance}] " if self.instance else ""
        return f"{stamp}.{msecs:03d} {self.pid} {self.level} {self.logger} {ctx} {inst}{self.message}"

    def display(self) -> str:
        """The line as the files hold it: oslo.log's format, nothing before the date."""
        return self.format()

    def brief(self) -> str:
        """The line as a pane shows it: the same fields without the date, pid and user, and
        ids cut to their first 8 digits, so the message fits on screen (the files and the
        detail screen keep them whole)."""
        stamp = time.strftime("%H:%M:%S", time.localtime(self.time)) + f".{int(self.time * 1000) % 1000:03d}"
        ctx = f"[{self.request_id[:12]}]" if self.request_id else "[-]"
        inst = f"[instance: {self.instance[:8]}] " if self.instance else ""
        host = f"{self.host} " if self.host else ""
        return f"{host}{stamp} {self.level} {self.logger} {ctx} {inst}{self.message}"


_last_stamp = (None, "")  # (whole second, its asctime): lines come many a second


def _asctime(when: float) -> str:
    global _last_stamp
    second = int(when)
    cached = _last_stamp
    if cached[0] != second:
        cached = _last_stamp = (second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)))
    return cached[1]


_LINE = re.compile(
    r"^(?:(?P<host>\S+) )?(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(?P<ms>\d{3}) (?P<pid>\d+) "
    r"(?P<level>[A-Z]+) (?P<logger>\S+) (?:\[-\]|\[None (?P<req>req-\S+) admin admin(?: - - default default)?\]) "
    r"(?:\[instance: (?P<inst>[0-9a-f-]{36})\] )?(?P<msg>.*)$")


def parse_line(service: str, text: str) -> LogLine | None:
    """A line of our own files back into a LogLine (None for anything else). Files written
    before the host left the line have "<host> <oslo line>" in n-cpu.log: both are read."""
    m = _LINE.match(text)
    if m is None:
        return None
    when = time.mktime(time.strptime(m["stamp"], "%Y-%m-%d %H:%M:%S")) + int(m["ms"]) / 1000
    return LogLine(service, when, m["level"], m["logger"], m["msg"], m["req"], m["inst"],
                   m["host"] if service == "n-cpu" else None, int(m["pid"]))


def read_tail(log_dir: Path, limit: int = 2000, max_bytes: int = 1 << 20) -> list[LogLine]:
    """The last lines of the three files, merged in time order: history for a new console."""
    lines: list[LogLine] = []
    for service in SERVICES:
        path = log_dir / f"{service}.log"
        if not path.exists():
            continue
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - max_bytes))
            chunk = f.read().decode(errors="replace").splitlines()[-limit:]
        lines += [ln for ln in (parse_line(service, t) for t in chunk) if ln is not None]
    lines.sort(key=lambda ln: ln.time)
    return lines[-limit:]


class LogTail:
    """The lines other processes append to the three files, from where they end now: how a
    read-only console with no service to attach to follows what the others do."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self._at = {s: self._size(s) for s in SERVICES}

    def _size(self, service: str) -> int:
        try:
            return (self.log_dir / f"{service}.log").stat().st_size
        except OSError:
            return 0

    def read(self) -> list[LogLine]:
        lines: list[LogLine] = []
        for service in SERVICES:
            size = self._size(service)
            if size < self._at[service]:  # rotated or truncated: from its start
                self._at[service] = 0
            if size == self._at[service]:
                continue
            with open(self.log_dir / f"{service}.log", "rb") as f:
                f.seek(self._at[service])
                chunk = f.read(size - self._at[service])
            done = chunk.rfind(b"\n") + 1      # a line still being written waits
            self._at[service] += done
            lines += [ln for ln in (parse_line(service, t) for t in
                                    chunk[:done].decode(errors="replace").splitlines())
                      if ln is not None]
        lines.sort(key=lambda ln: ln.time)
        return lines


class LogSink:
    """read_only: lines reach the listeners but no file is opened or written."""

    def __init__(self, log_dir: Path, emit: Callable[[LogLine], None] | None = None,
                 read_only: bool = False):
        if not read_only:
            log_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = log_dir
        self._files = {} if read_only else \
            {s: open(log_dir / f"{s}.log", "a", buffering=1) for s in SERVICES}
        self._lock = threading.Lock()
        self.emit = emit

    def write(self, line: LogLine) -> None:
        text = line.display() + "\n"
        with self._lock:
            if self._files:
                self._files[line.service].write(text)
        if self.emit is not None:
            self.emit(line)

    def close(self) -> None:
        with self._lock:
            for f in self._files.values():
                f.close()


class ServiceLog:
    """What one service writes: `log.info("Pausing", ctx=request_id, instance=uuid)`."""

    def __init__(self, sink: LogSink, service: str, logger: str, host: str | None = None):
        self.sink, self.service, self.logger, self.host = sink, service, logger, host

    def log(self, level: str, message: str, ctx: str | None = None, instance: str | None = None,
            logger: str | None = None) -> None:
        self.sink.write(LogLine(self.service, time.time(), level, logger or self.logger, message,
                                ctx, instance, self.host, PID))

    def debug(self, message, **kw):
        self.log("DEBUG", message, **kw)

    def info(self, message, **kw):
        self.log("INFO", message, **kw)

    def warning(self, message, **kw):
        self.log("WARNING", message, **kw)

    def error(self, message, **kw):
        self.log("ERROR", message, **kw)
