"""Log lines in oslo.log's format, written to <state-dir>/logs/n-{api,sch,cpu}.log and handed
to the engine's listeners (the console's panes)."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

SERVICES = ("n-api", "n-sch", "n-cpu")
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
    host: str | None = None     # the compute host, for n-cpu lines
    pid: int = PID

    def format(self) -> str:
        """`%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [ctx] %(instance)s%(message)s`"""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time))
        msecs = int(self.time * 1000) % 1000
        ctx = f"[None {self.request_id} admin admin]" if self.request_id else "[-]"
        inst = f"[instance: {self.instance}] " if self.instance else ""
        return f"{stamp}.{msecs:03d} {self.pid} {self.level} {self.logger} {ctx} {inst}{self.message}"

    def display(self) -> str:
        """The line as files and panes show it: n-cpu lines of many hosts carry the host."""
        return f"{self.host} {self.format()}" if self.host else self.format()


class LogSink:
    def __init__(self, log_dir: Path, emit: Callable[[LogLine], None] | None = None):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = log_dir
        self._files = {s: open(log_dir / f"{s}.log", "a", buffering=1) for s in SERVICES}
        self._lock = threading.Lock()
        self.emit = emit

    def write(self, line: LogLine) -> None:
        text = line.display() + "\n"
        with self._lock:
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
                                ctx, instance, self.host))

    def debug(self, message, **kw):
        self.log("DEBUG", message, **kw)

    def info(self, message, **kw):
        self.log("INFO", message, **kw)

    def warning(self, message, **kw):
        self.log("WARNING", message, **kw)

    def error(self, message, **kw):
        self.log("ERROR", message, **kw)
