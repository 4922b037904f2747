"""The filter scheduler: filters drop hosts that cannot take the request, weighers rank the
rest, and every step is written to n-sch as nova-scheduler writes it."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from .config import Config, HostConfig
from .errors import NoValidHost
from .logs import ServiceLog


@dataclass
class HostState:
    name: str
    config: HostConfig
    vcpus: int
    memory_mb: int
    disk_gb: int
    vcpus_used: int = 0
    memory_mb_used: int = 0
    disk_gb_used: int = 0
    instances: int = 0
    up: bool = True
    enabled: bool = True
    disabled_reason: str | None = None

    @property
    def free_ram_mb(self) -> int:
        return self.memory_mb - self.memory_mb_used

    @property
    def free_disk_mb(self) -> int:
        return (self.disk_gb - self.disk_gb_used) * 1024

    def __repr__(self) -> str:  # HostState's repr in nova-scheduler's logs
        return (f"({self.name}, {self.name}) ram: {self.free_ram_mb}MB disk: "
                f"{self.free_disk_mb}MB io_ops: 0 instances: {self.instances}")


@dataclass
class RequestSpec:
    instance_uuid: str
    vcpus: int
    memory_mb: int
    root_gb: int
    availability_zone: str | None = None
    image_properties: dict = field(default_factory=dict)
    ignore_hosts: tuple = ()          # tried already (RetryFilter) or the source of a move
    force_host: str | None = None


def _compute(host: HostState, spec: RequestSpec, conf) -> str | None:
    if not host.enabled:
        return f"{host!r} is disabled, reason: {host.disabled_reason or 'disabled by operator'}"
    if not host.up:
        return f"{host!r} has not been heard from in a while"
    return None


def _az(host, spec, conf):
    if spec.availability_zone and host.config.availability_zone != spec.availability_zone:
        return f"Availability Zone '{spec.availability_zone}' requested. {host!r} has AZs: " \
               f"{host.config.availability_zone}"
    return None


def _ram(host, spec, conf):
    limit = host.memory_mb * conf.ram_allocation_ratio
    usable = limit - host.memory_mb_used
    if usable < spec.memory_mb or host.memory_mb < spec.memory_mb:
        return f"{host!r} does not have {spec.memory_mb} MB usable ram, it only has " \
               f"{usable:.1f} MB usable ram."
    return None


def _core(host, spec, conf):
    free = host.vcpus * conf.cpu_allocation_ratio - host.vcpus_used
    if free < spec.vcpus or host.vcpus < spec.vcpus:
        return f"{host!r} does not have {spec.vcpus} usable vcpus, it only has {free:.1f} usable vcpus."
    return None


def _disk(host, spec, conf):
    requested = spec.root_gb * 1024
    usable = host.disk_gb * 1024 * conf.disk_allocation_ratio - host.disk_gb_used * 1024
    if usable < requested:
        return f"{host!r} does not have {requested} MB usable disk, it only has " \
               f"{usable:.1f} MB usable disk."
    return None


def _image_props(host, spec, conf):
    arch = spec.image_properties.get("hw_architecture")
    if arch and arch not in ("x86_64", "i686"):
        return f"Instance contains properties {spec.image_properties} that are not " \
               f"provided by the compute node {host!r}"
    return None


def _retry(host, spec, conf):
    if host.name in spec.ignore_hosts:
        return f"Host {host.name} fails.  Previously tried hosts: {list(spec.ignore_hosts)}"
    return None


FILTERS = {"ComputeFilter": _compute, "AvailabilityZoneFilter": _az, "RamFilter": _ram,
           "CoreFilter": _core, "DiskFilter": _disk, "ImagePropertiesFilter": _image_props,
           "RetryFilter": _retry}

WEIGHERS = {
    "RAMWeigher": lambda h: h.free_ram_mb,
    "CPUWeigher": lambda h: h.vcpus - h.vcpus_used,
    "DiskWeigher": lambda h: h.free_disk_mb,
    "NumInstancesWeigher": lambda h: h.instances,
}


class FilterScheduler:
    def __init__(self, config: Config, log: ServiceLog, rng: random.Random | None = None):
        self.config = config
        self.log = log
        self.rng = rng or random.Random()

    def select_destination(self, spec: RequestSpec, hosts: list[HostState], ctx: str) -> HostState:
        conf = self.config.scheduler
        log = self.log
        log.debug(f"Starting to schedule for instances: ['{spec.instance_uuid}']", ctx=ctx)
        candidates = list(hosts)
        if spec.force_host:
            candidates = [h for h in candidates if h.name == spec.force_host]
        log.debug(f"Starting with {len(candidates)} host(s)", ctx=ctx)
        results = []
        # Hosts already tried and the source of a move never pass, whatever filters are set.
        filters = ["RetryFilter"] if spec.ignore_hosts else []
        filters += [f for f in conf.enabled_filters if f != "RetryFilter"]
        for name in filters:
            start = len(candidates)
            kept = []
            for host in candidates:
                reason = FILTERS[name](host, spec, conf)
                if reason is None:
                    kept.append(host)
                else:
                    log.debug(reason, ctx=ctx, logger="nova.scheduler.filters")
            candidates = kept
            results.append(f"{name}: (start: {start}, end: {len(candidates)})")
            if candidates:
                log.debug(f"Filter {name} returned {len(candidates)} host(s)", ctx=ctx,
                          logger="nova.filters")
            else:
                log.info(f"Filter {name} returned 0 hosts", ctx=ctx, logger="nova.filters")
                log.info(f"Filtering removed all hosts for the request with instance ID "
                         f"'{spec.instance_uuid}'. Filter results: [{', '.join(results)}]",
                         ctx=ctx, logger="nova.filters")
                raise NoValidHost("No valid host was found. There are not enough hosts available.")
        log.debug(f"Filtered {candidates}", ctx=ctx)
        weighed = self._weigh(candidates)
        log.debug("Weighed [" + ", ".join(
            f"WeighedHost [host: {h!r}, weight: {w}]" for h, w in weighed) + "]", ctx=ctx)
        top = weighed[:conf.host_subset_size]
        chosen = self.rng.choice(top)[0]
        log.debug(f"Selected host: WeighedHost [host: {chosen!r}, weight: "
                  f"{dict((h.name, w) for h, w in weighed)[chosen.name]}]", ctx=ctx)
        return chosen

    def _weigh(self, hosts: list[HostState]) -> list[tuple[HostState, float]]:
        """nova/weights.py: normalise each weigher to 0..1, multiply, sum, sort descending."""
        totals = {h.name: 0.0 for h in hosts}
        for name, multiplier in self.config.scheduler.weighers.items():
            raw = [WEIGHERS[name](h) for h in hosts]
            lo, hi = min(raw), max(raw)
            for h, value in zip(hosts, raw):
                norm = 0.0 if hi == lo else (value - lo) / (hi - lo)
                totals[h.name] += multiplier * norm
        return sorted(((h, totals[h.name]) for h in hosts), key=lambda hw: -hw[1])
