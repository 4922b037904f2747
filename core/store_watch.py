"""What other processes sharing the embedded store do, for a service that does not drive
every host itself (`serve --no-compute` beside `novatui compute` agents, with no broker to
carry their notifications): the instances they change, read from the store, and the lines
they append to the state dir's log files. Twice a second, while anyone listens."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

from .events import InstanceChanged, LogEmitted
from .logs import LogTail

WATCH_SECONDS = 0.5


def watch_store(store, log_dir: Path, deliver: Callable[[object], None],
                listening: Callable[[], bool], stop: threading.Event) -> None:
    polled_at = time.time()
    tail = LogTail(log_dir)
    me = os.getpid()
    while not stop.wait(WATCH_SECONDS):
        lines = tail.read()   # read while nobody listens too: a newcomer gets no backlog
        if not listening():
            polled_at = time.time()
            continue
        for line in lines:
            if line.pid != me:
                deliver(LogEmitted(line))
        for inst in store.changed_since(polled_at):
            polled_at = max(polled_at, inst["updated_at"])
            deliver(InstanceChanged(inst))
