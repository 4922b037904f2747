"""Reading hosts.toml's tables: typed values whose errors name the file, the key and the
reason, and the checks the inventory's loader (core/config.py) shares."""
from __future__ import annotations

import math
import os
import stat
from pathlib import Path

from .errors import ConfigError

MAX_INVENTORY_BYTES = 1 << 20


class Reader:
    """Typed access to one TOML table, with errors that say where."""

    def __init__(self, path: Path, where: str, table: object):
        self.path, self.where = path, where
        if not isinstance(table, dict):
            self.fail("", "must be a table")
        self.table = table

    def fail(self, key: str, reason: str):
        key = key if key.isprintable() else repr(key)
        loc = f"{self.where}.{key}" if key and self.where else (key or self.where)
        raise ConfigError(f"{self.path}: {loc}: {reason}")

    def get(self, key, kind, default=..., check=None, reason="", most=None):
        """`most` is (bound, why): the largest value allowed, and why it is the limit."""
        if key not in self.table:
            if default is ...:
                self.fail(key, "is required")
            return default
        value = self.table[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            try:
                value, ok = float(value), True
            except OverflowError:
                self.fail(key, "is too large")
        if not ok:
            self.fail(key, f"must be {kind_name(kind)}, not {short(value)}")
        if kind is float and not math.isfinite(value):
            self.fail(key, f"must be a finite number, not {value!r}")
        if kind is str:
            plain_text(self, key, value)
        if check is not None and not check(value):
            self.fail(key, reason)
        if most is not None and value > most[0]:
            self.fail(key, f"must be at most {most[0]} ({most[1]})")
        return value

    def unknown(self, allowed):
        extra = sorted(set(self.table) - set(allowed))
        if extra:
            self.fail(extra[0], "unknown key")


def kind_name(kind) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            list: "a list", dict: "a table"}.get(kind, str(kind))


def short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def plain_text(r: "Reader", key: str, value: str) -> None:
    """Strings end up in paths, URIs, XML and log lines: no NUL, newline or other control."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        r.fail(key, "must not contain control characters (NUL, newline, tab...)")


def positive(v) -> bool:
    return v > 0


def non_negative(v) -> bool:
    return v >= 0


def as_path(value: str | None) -> Path | None:
    return Path(os.path.expanduser(value)) if value else None


def read_inventory(path: Path) -> str:
    """At most 1 MiB of UTF-8 from a regular file: never a device, a FIFO or a directory."""
    try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{path} is not a regular file ({file_kind(mode)})")
        data = os.read(fd, MAX_INVENTORY_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_INVENTORY_BYTES:
        raise ConfigError(f"{path} is larger than 1 MiB: it cannot be an inventory")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text (byte {e.start} is {data[e.start]:#04x})") from None


def file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a plain file"


def properties(r: Reader) -> dict:
    """Image properties are strings, as in Glance (they are stored as JSON and compared)."""
    props = r.get("properties", dict, {})
    for k, v in props.items():
        plain_text(r, "properties", k)
        if not isinstance(v, str):
            r.fail(f"properties.{k}", f"must be a string, not {short(v)}")
        plain_text(r, f"properties.{k}", v)
    return props


def unique(path: Path, key: str, names: list[str]) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise ConfigError(f"{path}: {key}: {n!r} is defined twice")
        seen.add(n)
