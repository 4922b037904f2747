"""Disks move between hosts (and the image store) through here, and only here.

A copy lands beside its destination as `<name>.part-<random>`, is checked against the source's size
and sha256, and only then takes its name. A part left by a copy that a crash cut is removed
before the next copy to the same name. A copy that fails or is cut leaves no partial file
and the source untouched, so the caller can put the instance back where it was.
"""
from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Callable

from .crashpoints import crash_point
from .errors import DriverError


class TransportError(DriverError):
    pass


def copy_disk(src, src_path, dst, dst_path, progress: Callable[[int, int], None] | None = None,
              expected_sha: str | None = None) -> str:
    """Copy a file from host files `src` to host files `dst`; returns its sha256. A source
    whose checksum is already known (a registered image) is not read twice."""
    expected_size = src.size(src_path)
    expected_sha = expected_sha or src.sha256(src_path)
    stem = f"{Path(str(dst_path)).name}.part-"
    for stale in dst.list_dir(type(dst_path)(dst_path).parent):  # a copy cut by a crash
        if stale.startswith(stem):
            dst.remove(type(dst_path)(dst_path).parent / stale)
    part = type(dst_path)(f"{dst_path}.part-{uuid.uuid4().hex[:8]}")
    try:
        if src is dst:
            dst.copy_within(src_path, part, progress)
        elif not src.remote:
            dst.put_file(Path(src_path), part, progress)
        elif not dst.remote:
            src.get_file(src_path, Path(part), progress)
        else:  # remote to remote goes through this machine
            with tempfile.TemporaryDirectory(prefix="novatui-copy-") as tmp:
                local = Path(tmp) / "disk"
                src.get_file(src_path, local, progress)
                dst.put_file(local, part, None)
        crash_point("copy:part_written")
        size, sha = dst.size(part), dst.sha256(part)
        if (size, sha) != (expected_size, expected_sha):
            raise TransportError(
                f"copy of {src_path} from {src.label} to {dst.label} is corrupt: {size} bytes, "
                f"sha256 {sha[:12]}… (expected {expected_size} bytes, {expected_sha[:12]}…)")
        dst.rename(part, dst_path)
        crash_point("copy:renamed")
    except BaseException:
        try:
            dst.remove(part)
        except Exception:  # noqa: BLE001 - the copy's own error is the one to report
            pass
        raise
    return expected_sha
