"""Named crash points, for the crash campaign (tests/crash).

`crash_point("compute.resize_instance:copied")` marks a place where a process may die. With
NOVATUI_CRASH_AT=NAME (or NAME#N) in the environment the process kills itself with SIGKILL the
first (or N-th) time it reaches NAME: a real kill -9, no cleanup, no finally blocks. With
NOVATUI_CRASH_TRACE=FILE every point reached is appended to FILE, one name a line, so a test
can learn the points an operation passes before it crashes at each. Unset (always, outside the
tests), a crash point costs one comparison.
"""
from __future__ import annotations

import os
import signal
import threading

_AT = os.environ.get("NOVATUI_CRASH_AT") or None
_TRACE = os.environ.get("NOVATUI_CRASH_TRACE") or None
_name, _, _nth = (_AT or "").partition("#")
_target = int(_nth) if _nth.isdigit() else 1
_hits = 0
_lock = threading.Lock()


def crash_point(name: str) -> None:
    if _AT is None and _TRACE is None:
        return
    global _hits
    with _lock:
        if _TRACE is not None:
            with open(_TRACE, "a") as f:
                f.write(name + "\n")
        if name == _name:
            _hits += 1
            if _hits == _target:
                os.kill(os.getpid(), signal.SIGKILL)
