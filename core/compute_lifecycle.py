"""Compute handlers of the power lifecycle and of terminate: hypervisor work only; the
wrapper (_run) does the bookkeeping. Mixed into ComputeManager."""
from __future__ import annotations

import time

from . import states as S
from .compute_shared import Job


class LifecycleOps:
    # -- lifecycle handlers: hypervisor work only; _run does the bookkeeping ------------
    def _start(self, job: Job):
        self.driver.power_on(job.uuid)
        self.virtlog.info("Instance rebooted successfully.", ctx=job.ctx, instance=job.uuid)

    def _stop(self, job: Job):
        self.power_off_logged(job)

    def power_off_logged(self, job: Job) -> None:
        """The libvirt driver's power_off, with its lines (stop, shelve, rebuild use it)."""
        timeout = self.config.compute.shutdown_timeout
        if self.driver.power_state(job.uuid) in (S.SHUTDOWN, S.NOSTATE):
            self.virtlog.info("Instance already shutdown.", ctx=job.ctx, instance=job.uuid)
            return
        took = self.driver.power_off(job.uuid, timeout)
        if took is None:
            self.virtlog.info(f"Instance failed to shutdown in {timeout:.0f} seconds.",
                              ctx=job.ctx, instance=job.uuid)
        else:
            self.virtlog.info(f"Instance shutdown successfully after {took:.0f} seconds.",
                              ctx=job.ctx, instance=job.uuid)

    def _reboot(self, job: Job):
        job.task(S.REBOOT_PENDING)
        job.task(S.REBOOT_STARTED)
        return self._rebooted(job, self._soft_then_hard)

    def _reboot_hard(self, job: Job):
        job.task(S.REBOOT_PENDING_HARD)
        job.task(S.REBOOT_STARTED_HARD)
        return self._rebooted(job, self._hard)

    def _hard(self, uuid: str) -> str:
        self.driver.hard_reboot(uuid)
        return "Instance rebooted successfully."

    def _soft_then_hard(self, uuid: str) -> str:
        if self.driver.soft_reboot(uuid, self.config.compute.shutdown_timeout):
            return "Instance soft rebooted successfully."
        self.virtlog.warning("Failed to soft reboot instance. Trying hard reboot.", instance=uuid)
        return self._hard(uuid)

    def _rebooted(self, job: Job, reboot):
        """Nova's reboot_instance: a reboot that fails while the guest still runs is no
        failure (ctxt.reraise = False): the fault is recorded, the instance stays ACTIVE."""
        self.log.info("Rebooting instance", ctx=job.ctx, instance=job.uuid)
        try:
            done = reboot(job.uuid)
        except Exception as e:
            if self.driver.power_state(job.uuid) != S.RUNNING:
                raise
            self.log.warning("Reboot failed but instance is running", ctx=job.ctx, instance=job.uuid)
            self.store.add_fault(job.uuid, getattr(e, "code", 500),
                                 getattr(e, "message", None) or str(e), None, self.host.name, job.ctx)
            return None
        self.virtlog.info(done, ctx=job.ctx, instance=job.uuid)
        return None

    def _pause(self, job: Job):
        self.log.info("Pausing", ctx=job.ctx, instance=job.uuid)
        self.driver.pause(job.uuid)

    def _unpause(self, job: Job):
        self.log.info("Unpausing", ctx=job.ctx, instance=job.uuid)
        self.driver.unpause(job.uuid)

    def _suspend(self, job: Job):
        self.driver.suspend(job.uuid)
        return {"sys_meta": {**job.inst["sys_meta"], "old_vm_state": job.inst["vm_state"]}}

    def _resume(self, job: Job):
        self.log.info("Resuming", ctx=job.ctx, instance=job.uuid)
        self.driver.resume(job.uuid)
        meta = dict(job.inst["sys_meta"])
        return {"vm_state": meta.pop("old_vm_state", S.ACTIVE), "sys_meta": meta}

    def _delete(self, job: Job):
        self.log.info("Terminating instance", ctx=job.ctx, instance=job.uuid)
        mig = self.store.active_migration(job.uuid)
        others = {mig["source_host"], mig["dest_host"]} - {None, self.host.name} if mig else set()
        fields = self.terminate(job.uuid, job.ctx)

        def end_move():  # a delete wins over a move: its steps find it ended and stop
            if mig is not None:
                self.store.update_migration(mig["id"], status="error", held_host=None)
            self._cast_cleanups(job.uuid, job.ctx, others)
        job.on_commit(end_move)
        return fields

    _force_delete = _delete

    def terminate(self, uuid: str, ctx: str | None) -> dict:
        """Everything of the instance on this host: guest, disk (and a move's kept copy),
        shelve image, IPs. Other hosts a move involved are cleaned by their own services."""
        start = time.monotonic()  # Nova's driver.destroy: the guest, then its files
        self.log.debug("Start destroying the instance on the hypervisor.", ctx=ctx, instance=uuid)
        self.driver.destroy(uuid)
        self.virtlog.info("Instance destroyed successfully.", ctx=ctx, instance=uuid)
        path = self.driver.files.instance_dir(uuid)
        self.virtlog.info(f"Deleting instance files {path}", ctx=ctx, instance=uuid)
        self.driver.delete_files(uuid)
        self.driver.files.remove_tree(self.driver.resize_dir(uuid))
        self.virtlog.info(f"Deletion of {path} complete", ctx=ctx, instance=uuid)
        self.log.info(f"Took {time.monotonic() - start:0.2f} seconds to destroy the instance on "
                      "the hypervisor.", ctx=ctx, instance=uuid)
        start = time.monotonic()
        self.images.delete_shelved(uuid)
        self.store.release_ips(uuid)
        self.log.info(f"Took {time.monotonic() - start:0.2f} seconds to deallocate network for "
                      "instance.", ctx=ctx, instance=uuid)
        return {"vm_state": S.DELETED, "deleted_at": time.time(), "power_state": S.NOSTATE}
