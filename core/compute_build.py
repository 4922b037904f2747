"""Building an instance on its host (Nova's _do_build_and_run_instance): claim, network,
disk, spawn; a failed build cleans the host and is rescheduled (RetryFilter) or ends in
ERROR. Mixed into ComputeManager."""
from __future__ import annotations

import time

from . import states as S
from .actions import ACTIONS
from .bus import CONDUCTOR, Message
from .compute_shared import ComputeResourcesUnavailable, Job
from .crashpoints import crash_point
from .errors import DriverError, UnexpectedTaskState
from .events import ActionFinished


class BuildOps:
    # -- build -------------------------------------------------------------------------
    def build_and_run_instance(self, msg: Message) -> None:
        inst = self.store.get_instance(msg.args["uuid"])
        if inst is None or inst["deleted_at"] is not None or inst["host"] != self.host.name \
                or inst["task_state"] not in S.BUILD_TASKS:
            self.bus.done(msg)
            return  # deleted (or taken) while it waited: the delete cleans up
        job = Job(self, msg, inst, ACTIONS["create"])
        event = self.store.start_event(job.ctx, "compute__do_build_and_run_instance", self.host.name)
        start = time.monotonic()
        self.log.debug("Starting instance...", ctx=job.ctx, instance=job.uuid)
        try:
            if inst["task_state"] != S.SCHEDULING:  # a build cut by a crash: start it afresh
                self.log.info(f"Build interrupted in {inst['task_state']}; building again",
                              ctx=job.ctx, instance=job.uuid)
                self._cleanup_guest(job.uuid)
                job.inst = self.store.update_instance(job.uuid, ip=None)
            self._claim(job)
            self.log.debug("Start building networks asynchronously for instance.", ctx=job.ctx,
                           instance=job.uuid)
            job.task(S.NETWORKING)
            ip = self.store.allocate_ip(self.config.network_name, job.uuid, self._addresses())
            job.inst = self.store.update_instance(job.uuid, ip=ip)
            self.log.debug("Start building block device mappings for instance.", ctx=job.ctx,
                           instance=job.uuid)
            job.task(S.BLOCK_DEVICE_MAPPING)
            self.log.debug("Start spawning the instance on the hypervisor.", ctx=job.ctx,
                           instance=job.uuid)
            job.task(S.SPAWNING)
            spawn_start = time.monotonic()
            self.virtlog.info("Creating image(s)", ctx=job.ctx, instance=job.uuid)
            image = self.store.get_image(inst["image_id"])
            if image is None:
                raise DriverError(f"Image {inst['image_id']} could not be found.")
            self.driver.create_disk(job.uuid, image)
            crash_point("compute.build_and_run_instance:disk_created")
            self.driver.spawn(job.inst, image)
            self.virtlog.debug("Guest created on hypervisor", ctx=job.ctx, instance=job.uuid)
            crash_point("compute.build_and_run_instance:spawned")
            self.virtlog.info("Instance spawned successfully.", ctx=job.ctx, instance=job.uuid)
            self._took(job, spawn_start, "spawn the instance on the hypervisor")
            with self.store.tx():
                inst = self.store.update_instance(
                    job.uuid, expected_task_state=S.SPAWNING, task_state=None, vm_state=S.ACTIVE,
                    power_state=self.driver.power_state(job.uuid), launched_at=time.time())
                self.store.finish_event(event, "Success")
                self.store.finish_action(job.ctx)
                job.commit()
        except UnexpectedTaskState as e:
            self._preempted(job, event, e)  # deleted while building: the delete cleans up
            return
        except Exception as e:  # noqa: BLE001
            self._build_failed(job, event, e)
            return
        self._took(job, start, "build instance")
        self.changed(inst)
        self.notify(ActionFinished(job.ctx, job.uuid, "create", True))

    def _claim(self, job: Job, need: dict | None = None, exclude_self: bool = False) -> None:
        """Check the host still has room (the scheduler's view may be stale). Usage already
        counts this request: the instance placed here, or a migration's claim."""
        need = need or job.inst
        res, conf = self.resources, self.config.scheduler
        used = self.store.host_usage(self.host.name).get(self.host.name, {})
        checks = (("memory", "memory_mb", res["memory_mb"] * conf.ram_allocation_ratio, "MB"),
                  ("vcpu", "vcpus", res["vcpus"] * conf.cpu_allocation_ratio, "VCPU"),
                  ("disk", "root_gb", res["disk_gb"] * conf.disk_allocation_ratio, "GB"))
        for what, key, limit, unit in checks:
            total = used.get({"root_gb": "disk_gb"}.get(key, key), 0)
            if total > limit:
                raise ComputeResourcesUnavailable(
                    f"Insufficient compute resources: Free {what} {limit - total + need[key]:.0f} "
                    f"{unit} < requested {need[key]} {unit}.")
        self.log.info(f"Claim successful on node {self.host.name}", ctx=job.ctx, instance=job.uuid)

    def _addresses(self):
        net = self.config.network
        hosts = net.hosts()
        next(hosts, None)  # the first address is the gateway
        return (str(a) for a in hosts)

    def _build_failed(self, job: Job, event, exc: Exception) -> None:
        """Clean the host, then reschedule (RetryFilter) or give up with vm_state ERROR."""
        self._cleanup_guest(job.uuid)
        tried = list(job.args.get("tried", [])) + [self.host.name]
        if len(tried) < self.config.scheduler.max_attempts:
            try:
                with self.store.tx():
                    self.store.update_instance(job.uuid, expected_task_state=job.task_state,
                                               task_state=S.SCHEDULING, host=None, ip=None)
                    self.store.finish_event(event, "Error", str(exc))
                    self.bus.cast(CONDUCTOR, "build_instances", job.ctx, uuid=job.uuid, tried=tried)
                    job.commit()
            except UnexpectedTaskState as e:
                self._preempted(job, event, e)
                return
            self.log.debug(f"Build of instance {job.uuid} was re-scheduled: {exc}",
                           ctx=job.ctx, instance=job.uuid)
            self.changed(self.store.get_instance(job.uuid))
            return
        self._fail(job, event, exc, vm_state=S.ERROR, host=None, ip=None)

    def _cleanup_guest(self, uuid: str, keep_ips: bool = False) -> None:
        steps = (self.driver.destroy, self.driver.delete_files) + (() if keep_ips else (self.store.release_ips,))
        for step in steps:
            try:
                step(uuid)
            except Exception as e:  # noqa: BLE001 - cleanup goes on; the fault says why we are here
                self.log.warning(f"Cleanup step {step.__name__} failed: {e}", instance=uuid)
