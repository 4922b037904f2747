"""Who drives what: one process drives a host at a time (a lock file per host in the state
dir), and a claimed message names the process, and the machine, that claimed it."""
from __future__ import annotations

import fcntl
import os
import socket
import uuid as uuidlib
from pathlib import Path


class HostLock:
    """One process drives a host at a time: an flock on <state>/hosts/<name>/owner.lock."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> int | None:
        """Take the lock; None on success, else the pid that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            return int(owner) if owner.isdigit() else -1
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        return None

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_id() -> str:
    """Who claims a message: pid-random@machine (an agent's pid means nothing elsewhere)."""
    return f"{os.getpid()}-{uuidlib.uuid4().hex[:8]}@{socket.gethostname()}"


def claimed_here(owner: str) -> bool:
    machine = owner.partition("@")[2]
    return machine in ("", socket.gethostname())   # "": a claim made before owners named it
