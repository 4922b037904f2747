"""Loading and validating hosts.toml. Every error names the file, the key and the reason."""
from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

from .config_reader import (Reader, as_path, non_negative, positive, properties, read_inventory,
                            unique)
from .errors import ConfigError, InvalidInput

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")  # fullmatch: no "\n" after
KNOWN_FILTERS = ("ComputeFilter", "AvailabilityZoneFilter", "RamFilter", "CoreFilter",
                 "DiskFilter", "ImagePropertiesFilter", "RetryFilter")
KNOWN_WEIGHERS = ("RAMWeigher", "CPUWeigher", "DiskWeigher", "NumInstancesWeigher")
SIMULATED_URI = "test:///"
# Upper bounds, so that no number in the inventory can overflow SQLite or an allocation.
NOVA_MAX_INT = (2**31 - 1, "Nova's limit")          # flavor fields, as nova.db.MAX_INT
HOST_MAX_VCPUS = (65536, "more than any host has")
HOST_MAX_SIZE = (2**31 - 1, "more than any host has")  # memory_mb (2 PiB), disk_gb (2 EiB)
IMAGE_MAX_MB = (1 << 20, "1 TiB")
MAX_SECONDS = (365 * 86400, "a year")


def validate_name(kind: str, name: object) -> str:
    """Names end up in domain XML, file paths and log lines: keep them boring."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"invalid {kind} name {name!r}: use 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit")
    return name


@dataclass(frozen=True)
class Flavor:
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int


@dataclass(frozen=True)
class ImageSpec:
    name: str
    disk_format: str = "raw"
    size_mb: int = 1
    file: Path | None = None
    properties: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SSHSettings:
    address: str = ""
    user: str = "root"
    port: int = 22
    key_file: Path | None = None
    known_hosts: Path = Path("~/.ssh/known_hosts").expanduser()


@dataclass(frozen=True)
class HostConfig:
    name: str
    uri: str
    availability_zone: str = "nova"
    vcpus: int = 0          # 0 = ask libvirt (real hosts)
    memory_mb: int = 0
    disk_gb: int = 0
    instances_path: Path | None = None
    ssh: SSHSettings | None = None

    @property
    def simulated(self) -> bool:
        return self.uri == SIMULATED_URI


@dataclass(frozen=True)
class SchedulerConfig:
    cpu_allocation_ratio: float = 16.0
    ram_allocation_ratio: float = 1.5
    disk_allocation_ratio: float = 1.0
    enabled_filters: tuple = ("ComputeFilter", "AvailabilityZoneFilter", "RamFilter",
                              "CoreFilter", "DiskFilter", "ImagePropertiesFilter")
    weighers: dict = field(default_factory=lambda: {"RAMWeigher": 1.0})
    host_subset_size: int = 1
    max_attempts: int = 3
    allow_resize_to_same_host: bool = False
    resize_confirm_window: int = 0
    shelved_offload_time: int = 0


@dataclass(frozen=True)
class ComputeConfig:
    shutdown_timeout: float = 60.0
    sync_power_state_interval: float = 60.0
    service_down_time: float = 60.0
    handle_lifecycle_events: bool = True   # Nova's [workarounds]handle_virt_lifecycle_events


@dataclass(frozen=True)
class Config:
    path: Path
    hosts: tuple[HostConfig, ...]
    flavors: dict[str, Flavor]
    images: tuple[ImageSpec, ...]
    network_name: str
    network: ipaddress.IPv4Network
    scheduler: SchedulerConfig
    compute: ComputeConfig
    database_connection: str | None = None  # [database] connection; None: SQLite in the state dir
    transport_url: str | None = None        # [messaging] transport_url; None: the store's mailbox

    def host(self, name: str) -> HostConfig:
        for h in self.hosts:
            if h.name == name:
                return h
        raise InvalidInput(f"no host named {name!r} in {self.path}")

    def flavor(self, name: str) -> Flavor:
        try:
            return self.flavors[name]
        except KeyError:
            raise InvalidInput(
                f"no flavor named {name!r} (have: {', '.join(self.flavors)})") from None


def _name_check(r: Reader, key: str, kind: str) -> str:
    value = r.get(key, str)
    try:
        return validate_name(kind, value)
    except InvalidInput as e:
        r.fail(key, e.message)


def _load_host(path: Path, i: int, raw) -> HostConfig:
    r = Reader(path, f"hosts[{i}]", raw)
    r.unknown(("name", "uri", "availability_zone", "vcpus", "memory_mb", "disk_gb",
               "instances_path", "ssh"))
    name = _name_check(r, "name", "host")
    uri = r.get("uri", str)
    if not (uri == SIMULATED_URI or uri.startswith(("qemu:///", "qemu+ssh://"))):
        r.fail("uri", f"{uri!r} is not supported: use 'test:///' (simulated), "
                      "'qemu:///system' or 'qemu+ssh://user@host/system'")
    simulated = uri == SIMULATED_URI
    size_default = ... if simulated else 0
    reason = "must be greater than 0"
    ssh = None
    if "ssh" in r.table or uri.startswith("qemu+ssh://"):
        s = Reader(path, f"hosts[{i}].ssh", r.table.get("ssh", {}))
        s.unknown(("address", "user", "port", "key_file", "known_hosts"))
        parsed = urlsplit(uri) if uri.startswith("qemu+ssh://") else None
        address = s.get("address", str, parsed.hostname if parsed else ...)
        ssh = SSHSettings(
            address=address,
            user=s.get("user", str, (parsed.username if parsed else None) or "root"),
            port=s.get("port", int, (parsed.port if parsed else None) or 22,
                       lambda p: 0 < p < 65536, "must be a TCP port"),
            key_file=as_path(s.get("key_file", str, None)),
            known_hosts=as_path(s.get("known_hosts", str, "~/.ssh/known_hosts")))
    if simulated and ssh is not None and "instances_path" not in r.table:
        r.fail("instances_path", "is required for a simulated host whose disks live over SSH")
    return HostConfig(
        name=name, uri=uri,
        availability_zone=_name_check(r, "availability_zone", "availability zone")
        if "availability_zone" in r.table else "nova",
        vcpus=r.get("vcpus", int, size_default, positive, reason, HOST_MAX_VCPUS),
        memory_mb=r.get("memory_mb", int, size_default, positive, reason, HOST_MAX_SIZE),
        disk_gb=r.get("disk_gb", int, size_default, positive, reason, HOST_MAX_SIZE),
        instances_path=as_path(r.get("instances_path", str, None)),
        ssh=ssh)


def load_config(path: str | os.PathLike) -> Config:
    path = Path(path)
    text = read_inventory(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except ValueError as e:  # an integer literal of thousands of digits
        raise ConfigError(f"{path}: not valid TOML: {str(e).split(';')[0]}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    top = Reader(path, "", raw)
    top.unknown(("hosts", "flavors", "images", "network", "scheduler", "compute", "database",
                 "messaging"))

    hosts = tuple(_load_host(path, i, h) for i, h in enumerate(top.get("hosts", list)))
    if not hosts:
        top.fail("hosts", "at least one host is needed")
    unique(path, "hosts", [h.name for h in hosts])

    flavors = {}
    for i, f in enumerate(top.get("flavors", list)):
        r = Reader(path, f"flavors[{i}]", f)
        r.unknown(("name", "vcpus", "ram_mb", "disk_gb"))
        reason = "must be greater than 0"
        flavor = Flavor(_name_check(r, "name", "flavor"),
                        r.get("vcpus", int, ..., positive, reason, NOVA_MAX_INT),
                        r.get("ram_mb", int, ..., positive, reason, NOVA_MAX_INT),
                        r.get("disk_gb", int, ..., non_negative, "must not be negative",
                              NOVA_MAX_INT))
        if flavor.name in flavors:
            r.fail("name", f"flavor {flavor.name!r} is defined twice")
        flavors[flavor.name] = flavor
    if not flavors:
        top.fail("flavors", "at least one flavor is needed")

    images = []
    for i, im in enumerate(top.get("images", list)):
        r = Reader(path, f"images[{i}]", im)
        r.unknown(("name", "disk_format", "size_mb", "file", "properties"))
        file = as_path(r.get("file", str, None))
        if file is not None and not file.is_absolute():
            file = (path.parent / file).resolve()
        images.append(ImageSpec(
            name=_name_check(r, "name", "image"),
            disk_format=r.get("disk_format", str, "raw", lambda v: v in ("raw", "qcow2"),
                              "must be 'raw' or 'qcow2'"),
            size_mb=r.get("size_mb", int, 1, positive, "must be greater than 0", IMAGE_MAX_MB),
            file=file, properties=properties(r)))
    unique(path, "images", [im.name for im in images])

    net = Reader(path, "network", top.get("network", dict))
    net.unknown(("name", "cidr"))
    cidr = net.get("cidr", str)
    try:
        network = ipaddress.IPv4Network(cidr)
    except ValueError as e:
        net.fail("cidr", f"{cidr!r} is not an IPv4 network: {e}")
    if network.num_addresses < 4:
        net.fail("cidr", f"{cidr!r} is too small: it needs room for a gateway and guests")

    sc = Reader(path, "scheduler", top.get("scheduler", dict, {}))
    defaults = SchedulerConfig()
    sc.unknown(defaults.__dataclass_fields__)
    ratio = "must be greater than 0"
    filters = tuple(sc.get("enabled_filters", list, list(defaults.enabled_filters)))
    for f in filters:
        if f not in KNOWN_FILTERS:
            sc.fail("enabled_filters", f"unknown filter {f!r} (known: {', '.join(KNOWN_FILTERS)})")
    weighers = sc.get("weighers", dict, dict(defaults.weighers))
    for w, m in weighers.items():
        if w not in KNOWN_WEIGHERS:
            sc.fail("weighers", f"unknown weigher {w!r} (known: {', '.join(KNOWN_WEIGHERS)})")
        if not isinstance(m, (int, float)) or isinstance(m, bool) or not math.isfinite(m):
            sc.fail("weighers", f"multiplier of {w} must be a finite number")
    scheduler = SchedulerConfig(
        cpu_allocation_ratio=sc.get("cpu_allocation_ratio", float, 16.0, positive, ratio),
        ram_allocation_ratio=sc.get("ram_allocation_ratio", float, 1.5, positive, ratio),
        disk_allocation_ratio=sc.get("disk_allocation_ratio", float, 1.0, positive, ratio),
        enabled_filters=filters, weighers={k: float(v) for k, v in weighers.items()},
        host_subset_size=sc.get("host_subset_size", int, 1, positive, "must be at least 1",
                                NOVA_MAX_INT),
        max_attempts=sc.get("max_attempts", int, 3, positive, "must be at least 1", NOVA_MAX_INT),
        allow_resize_to_same_host=sc.get("allow_resize_to_same_host", bool, False),
        resize_confirm_window=sc.get("resize_confirm_window", int, 0, non_negative,
                                     "must not be negative", MAX_SECONDS),
        shelved_offload_time=sc.get("shelved_offload_time", int, 0, lambda v: v >= -1,
                                    "must be -1 (never), 0 (at once) or a number of seconds",
                                    MAX_SECONDS))

    cc = Reader(path, "compute", top.get("compute", dict, {}))
    cc.unknown(ComputeConfig.__dataclass_fields__)
    compute = ComputeConfig(
        shutdown_timeout=cc.get("shutdown_timeout", float, 60.0, non_negative, "must not be negative",
                                MAX_SECONDS),
        sync_power_state_interval=cc.get("sync_power_state_interval", float, 60.0, positive, ratio,
                                         MAX_SECONDS),
        service_down_time=cc.get("service_down_time", float, 60.0, positive, ratio, MAX_SECONDS),
        handle_lifecycle_events=cc.get("handle_lifecycle_events", bool, True))

    return Config(path=path, hosts=hosts, flavors=flavors, images=tuple(images),
                  network_name=_name_check(net, "name", "network") if "name" in net.table else "private",
                  network=network, scheduler=scheduler, compute=compute,
                  database_connection=_database(path, top), transport_url=_messaging(path, top))


def _database(path: Path, top: Reader) -> str | None:
    """[database] connection: a PostgreSQL URL (postgresql://user:pass@host:5432/db); left
    out, the store is SQLite in the state dir."""
    db = Reader(path, "database", top.get("database", dict, {}))
    db.unknown(("connection",))
    url = db.get("connection", str, None)
    if url is not None:
        from .store_db import check_url  # SQLAlchemy is loaded only for a [database]

        why = check_url(url)
        if why:
            db.fail("connection", why)
    return url


TRANSPORT_SCHEMES = ("rabbit", "amqp")


def _messaging(path: Path, top: Reader) -> str | None:
    """[messaging] transport_url: a RabbitMQ URL (rabbit://user:pass@host:5672/, as
    oslo.messaging spells it); left out, casts go through the store's mailbox table."""
    msg = Reader(path, "messaging", top.get("messaging", dict, {}))
    msg.unknown(("transport_url",))
    url = msg.get("transport_url", str, None)
    if url is None:
        return None
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in TRANSPORT_SCHEMES:
        msg.fail("transport_url", "expected rabbit://USER:PASS@HOST:PORT/ (or amqp://)")
    if not rest.split("/", 1)[0].rpartition("@")[2]:
        msg.fail("transport_url", "names no broker host")
    return url
