"""Compute handlers that turn disks into images and back: snapshot, rebuild, rescue,
unrescue, shelve, shelve offload and unshelve. Mixed into ComputeManager; `_run` does the
bookkeeping (task_state, events, faults), these do the hypervisor and file work."""
from __future__ import annotations

import time
from pathlib import Path

from . import states as S
from .crashpoints import crash_point
from .errors import DriverError


class ImageOps:
    def _snapshot(self, job):
        image = self.store.get_image(job.args["image_id"])
        self.log.info("instance snapshotting", ctx=job.ctx, instance=job.uuid)
        start = time.monotonic()
        try:
            job.task(S.IMAGE_SNAPSHOT)
            self.virtlog.info("Beginning cold snapshot process", ctx=job.ctx, instance=job.uuid)
            checksum = self.driver.snapshot_disk(job.uuid, Path(image["path"]), job.progress,
                                                 was=job.inst["power_state"])
            crash_point("compute.snapshot:exported")
            job.task(S.IMAGE_PENDING_UPLOAD)
            job.task(S.IMAGE_UPLOADING)
            self.images.finalize(image["id"], checksum)
        except Exception:
            self.images.delete(image, force=True)  # Nova deletes the image of a failed snapshot
            raise
        self.virtlog.info("Snapshot image upload complete", ctx=job.ctx, instance=job.uuid)
        self._took(job, start, "snapshot the instance on the hypervisor")
        return {"progress": None}

    def _rebuild(self, job):
        """Same host, same uuid, name, flavor and IP; the disk becomes the image's content."""
        image = self.store.get_image(job.args.get("image_id") or job.inst["image_id"])
        was_stopped = job.inst["vm_state"] == S.STOPPED
        self.log.info("Rebuilding instance", ctx=job.ctx, instance=job.uuid)
        self.power_off_logged(job)
        job.task(S.REBUILD_BLOCK_DEVICE_MAPPING)
        self.driver.replace_disk(job.uuid, image)
        job.task(S.REBUILD_SPAWNING)
        rebuilt = {**job.inst, "image": image["name"], "image_id": image["id"]}
        self.driver.define(rebuilt, image["disk_format"])
        if not was_stopped:
            self.driver.power_on(job.uuid)
        return {"image": image["name"], "image_id": image["id"],
                "vm_state": S.STOPPED if was_stopped else S.ACTIVE}

    def _rescue(self, job):
        image = self.store.get_image(job.args.get("image_id") or job.inst["image_id"])
        self.log.info("Rescuing", ctx=job.ctx, instance=job.uuid)
        self.driver.rescue(job.inst, image)
        return {"sys_meta": {**job.inst["sys_meta"], "rescue_image": image["name"]}}

    def _unrescue(self, job):
        self.log.info("Unrescuing", ctx=job.ctx, instance=job.uuid)
        self.driver.unrescue(job.uuid)
        meta = {k: v for k, v in job.inst["sys_meta"].items() if k != "rescue_image"}
        return {"sys_meta": meta}

    def _shelve(self, job):
        image = self.store.get_image(job.args["image_id"])
        self.log.info("Shelving", ctx=job.ctx, instance=job.uuid)
        if image["status"] != "active":  # else: a shelve that runs again has its image
            try:
                self.power_off_logged(job)
                self.driver.discard_saved_state(job.uuid)
                job.task(S.SHELVING_IMAGE_PENDING_UPLOAD)
                job.task(S.SHELVING_IMAGE_UPLOADING)
                checksum = self.driver.snapshot_disk(job.uuid, Path(image["path"]), job.progress)
                self.images.finalize(image["id"], checksum)
                crash_point("compute.shelve:image_saved")
            except Exception:
                self.images.delete(image, force=True)
                raise
        meta = {**job.inst["sys_meta"], "shelved_at": time.time(), "shelved_image_id": image["id"],
                "shelved_host": self.host.name}
        fields = {"sys_meta": meta, "power_state": S.SHUTDOWN, "progress": None}
        if self.config.scheduler.shelved_offload_time == 0:
            job.task(S.SHELVING_OFFLOADING)
            fields.update(self._offload(job))
        return fields

    def _shelve_offload(self, job):
        return self._offload(job)

    def _offload(self, job) -> dict:
        """Delete the guest and its disk from the host and free its resources, once the
        shelve image is checked whole: it is the only copy from then on."""
        self.log.info("Shelve offloading", ctx=job.ctx, instance=job.uuid)
        image_id = job.inst["sys_meta"].get("shelved_image_id") or job.args.get("image_id")
        image = self.store.get_image(image_id) if image_id else None
        if not self.images.is_whole(image):
            raise DriverError(f"shelve image {image_id} of {job.uuid} is missing or damaged; "
                              "the instance's disk is kept on its host")
        self.driver.destroy(job.uuid)
        crash_point("compute.shelve_offload:destroyed")
        self.driver.delete_files(job.uuid)
        return {"vm_state": S.SHELVED_OFFLOADED, "host": None, "power_state": S.SHUTDOWN}

    def _unshelve(self, job):
        """On the shelved host: power on. Offloaded: spawn from the shelve image here."""
        image_id = job.inst["sys_meta"].get("shelved_image_id")
        image = self.store.get_image(image_id) if image_id else None
        self.log.info("Unshelving", ctx=job.ctx, instance=job.uuid)
        if self.driver.power_state(job.uuid) != S.NOSTATE:  # shelved here, or spawned by a first run
            self.driver.power_on(job.uuid)
        else:
            try:
                if image is None:
                    raise FileNotFoundError(f"shelve image {image_id} of {job.uuid} is gone")
                job.task(S.SPAWNING)
                self.driver.create_disk(job.uuid, image, progress=job.progress)
                crash_point("compute.unshelve:disk_created")
                self.driver.spawn({**job.inst, "host": self.host.name}, image)
            except Exception as e:
                self._cleanup_guest(job.uuid, keep_ips=True)
                raise self.rollback(e, vm_state=S.SHELVED_OFFLOADED, host=None,
                                    power_state=S.SHUTDOWN, progress=None) from e
        if image is not None:
            self.images.delete(image, force=True)
        meta = {k: v for k, v in job.inst["sys_meta"].items()
                if k not in ("shelved_at", "shelved_image_id", "shelved_host")}
        return {"sys_meta": meta, "host": self.host.name, "progress": None}
