"""File work on a compute host: instance directories and disks.

`LocalFiles` serves simulated hosts and hypervisors on this machine. A remote host gets the
same interface over SSH (paramiko), so compute never cares where the host is.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class LocalFiles:
    def __init__(self, root: Path):
        self.root = Path(root)

    def instance_dir(self, uuid: str) -> Path:
        return self.root / uuid

    def put_file(self, local_src: Path, dest: Path) -> None:
        """Copy a file from this machine onto the host, atomically (no half-written disk)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        shutil.copyfile(local_src, tmp)
        os.replace(tmp, dest)

    def exists(self, path: Path) -> bool:
        return Path(path).exists()

    def sha256(self, path: Path) -> str:
        return sha256_file(path)

    def remove_tree(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
