"""Compute handlers that move an instance between hosts: cold migrate and resize (with
confirm and revert), live migrate and evacuate. A move is a chain of steps on the source and
destination services, each cast to the next as Nova's are:

    dest prep_resize (claim) -> source resize_instance (power off, copy disk) ->
    dest finish_resize (define, start; VERIFY_RESIZE) -> confirm on source | revert on dest
    -> finish_revert_resize on source

The source keeps its disk (<uuid>_resize) until confirm, so revert is cheap and a failure at
any step leaves the instance whole on one host: back where it was, or in ERROR with a fault.
"""
from __future__ import annotations

import time
from pathlib import Path

from . import states as S
from .bus import compute_topic
from .compute_shared import CONTINUES
from .transport import copy_disk
from .virt import driver_uri, host_files


def _flavor_fields(flavor) -> dict:
    return {"flavor": flavor.name, "vcpus": flavor.vcpus, "memory_mb": flavor.ram_mb,
            "root_gb": flavor.disk_gb}


class MoveOps:
    def peer_files(self, host: str):
        return host_files(self.config.host(host), self.driver.state_dir)

    def _cast_step(self, job, host: str, method: str, **args) -> None:
        merged = {**job.args, **args, "uuid": job.uuid, "action": job.action.name}
        self.bus.cast(compute_topic(host), method, job.ctx, **merged)

    def _recover_move(self, inst: dict) -> bool:
        """Start-up after a crash in the middle of a cold move whose source is this host:
        take the disk and definition back, drop the destination's copy, end the migration."""
        mig = self.store.active_migration(inst["uuid"])
        if mig is None or mig["source_host"] != self.host.name or inst["host"] != self.host.name:
            return False
        self.log.warning(f"Migration {mig['id']} was interrupted by a restart; the instance "
                         "stays on this host", instance=inst["uuid"])
        if self.driver.files.exists(self.driver.resize_dir(inst["uuid"])):
            self.driver.restore_resize_source(inst["uuid"], start=inst["power_state"] == S.RUNNING)
        self._end_migration(mig, inst["uuid"], "error")
        self.store.update_instance(inst["uuid"], task_state=None,
                                   power_state=self.driver.power_state(inst["uuid"]))
        return True

    def _end_migration(self, mig: dict, uuid: str, status: str) -> None:
        """A move that will not finish: it holds nothing any more, and the destination's
        copy (if any) goes."""
        self.store.update_migration(mig["id"], status=status, held_host=None)
        if mig["dest_host"] and mig["dest_host"] != self.host.name:
            peer = self.peer_files(mig["dest_host"])
            try:
                peer.remove_tree(peer.instance_dir(uuid))
            except Exception as e:  # noqa: BLE001 - the destination may be the problem
                self.log.warning(f"Could not remove the copy on {mig['dest_host']}: {e}", instance=uuid)
            finally:
                peer.close()

    def _drop_migration(self, uuid: str) -> None:
        """Deleting a resized instance confirms its migration first: the source copy goes."""
        mig = self.store.active_migration(uuid)
        if mig is None:
            return
        inst = self.store.get_instance(uuid)
        doomed = []
        if mig["source_host"]:
            doomed.append((mig["source_host"], f"{uuid}_resize"))
        if mig["dest_host"] and inst is not None and inst["host"] != mig["dest_host"]:
            doomed.append((mig["dest_host"], uuid))  # a copy the move never got to use
        for host, name in doomed:
            peer = self.peer_files(host)
            try:
                peer.remove_tree(peer.root / name)
            finally:
                peer.close()
        self.store.update_migration(mig["id"], status="confirmed", held_host=None)

    # -- cold migrate / resize -------------------------------------------------------------
    def _prep_resize(self, job):
        """Destination: check the claim, then hand over to the source."""
        mig = self.store.get_migration(job.args["migration_id"])
        try:
            self._claim(job, _flavor_fields(self.config.flavor(mig["new_flavor"])))
        except Exception as e:
            self.store.update_migration(mig["id"], status="error", held_host=None)
            raise self.rollback(e, vm_state=job.inst["vm_state"]) from e
        self._cast_step(job, mig["source_host"], "resize_instance")
        return CONTINUES

    def _resize_instance(self, job):
        """Source: power off, keep the disk in <uuid>_resize, copy it to the destination."""
        mig = self.store.get_migration(job.args["migration_id"])
        job.task(S.RESIZE_MIGRATING)
        self.store.update_migration(mig["id"], status="migrating")
        self.log.info("Migrating", ctx=job.ctx, instance=job.uuid)
        was_running = job.inst["power_state"] == S.RUNNING
        dest = self.peer_files(mig["dest_host"])
        try:
            source_disk = self.driver.migrate_disk_and_power_off(
                job.uuid, self.config.compute.shutdown_timeout)
            copy_disk(self.driver.files, source_disk, dest,
                      dest.instance_dir(job.uuid) / "disk", job.progress)
        except Exception as e:
            self._end_migration(mig, job.uuid, "error")
            self.driver.restore_resize_source(job.uuid, start=was_running)
            self.log.warning(f"Migration to {mig['dest_host']} failed; the instance stays on "
                             f"{self.host.name}", ctx=job.ctx, instance=job.uuid)
            raise self.rollback(e, vm_state=job.inst["vm_state"], progress=None) from e
        finally:
            dest.close()
        job.task(S.RESIZE_MIGRATED)
        self.store.update_migration(mig["id"], status="post-migrating")
        self._cast_step(job, mig["dest_host"], "finish_resize", was_running=was_running)
        return CONTINUES

    def _finish_resize(self, job):
        """Destination: define and start the guest here; the source keeps its copy."""
        mig = self.store.get_migration(job.args["migration_id"])
        old, new = self.config.flavor(mig["old_flavor"]), self.config.flavor(mig["new_flavor"])
        job.task(S.RESIZE_FINISH)
        moved = {**job.inst, **_flavor_fields(new), "host": self.host.name}
        image = self.store.get_image(job.inst["image_id"])
        try:
            self.driver.prepare_disk_for(job.uuid, image)
            self.driver.define(moved, (image or {}).get("disk_format", "raw"))
            if job.args["was_running"]:
                self.driver.power_on(job.uuid)
        except Exception as e:
            self._cleanup_guest(job.uuid, keep_ips=True)
            self.store.update_migration(mig["id"], status="error", held_host=None)
            self._cast_step(job, mig["source_host"], "restore_resize_source")
            raise self.rollback(e, vm_state=S.ERROR, power_state=S.SHUTDOWN, progress=None) from e
        meta = {**job.inst["sys_meta"],
                "old_vm_state": S.ACTIVE if job.args["was_running"] else S.STOPPED}
        self.store.update_migration(mig["id"], status="finished", held_host=mig["source_host"],
                                    held_vcpus=old.vcpus, held_memory_mb=old.ram_mb,
                                    held_root_gb=old.disk_gb)
        self.log.info(f"Instance moved from {mig['source_host']}; confirm or revert the "
                      f"{mig['migration_type']}", ctx=job.ctx, instance=job.uuid)
        return {**_flavor_fields(new), "host": self.host.name, "sys_meta": meta, "progress": None}

    def _restore_resize_source(self, job):
        """Source, after the destination failed: take the disk and definition back (the
        instance is in ERROR; a hard reboot brings it up)."""
        self.driver.restore_resize_source(job.uuid, start=False)
        self.log.info("Disk and definition restored on the source after a failed migration",
                      ctx=job.ctx, instance=job.uuid)
        return CONTINUES

    def _confirm_resize(self, job):
        """Source: delete the kept copy and free what it held."""
        mig = self.store.active_migration(job.uuid)
        self.driver.confirm_migration(job.uuid)
        self.store.update_migration(mig["id"], status="confirmed", held_host=None)
        meta = {k: v for k, v in job.inst["sys_meta"].items() if k != "old_vm_state"}
        running = job.inst["power_state"] == S.RUNNING
        return {"vm_state": S.ACTIVE if running else S.STOPPED, "sys_meta": meta,
                "power_state": job.inst["power_state"]}

    def _revert_resize(self, job):
        """Destination: drop the new guest and its disk, then hand back to the source."""
        mig = self.store.active_migration(job.uuid)
        self.store.update_migration(mig["id"], status="reverting", held_host=None)
        self.driver.destroy(job.uuid)
        self.driver.delete_files(job.uuid)
        # From here the instance is the source's: if that step fails, it is in ERROR there,
        # where its disk is, never on a host that no longer has it.
        old = self.config.flavor(mig["old_flavor"])
        self.store.update_instance(job.uuid, host=mig["source_host"], **_flavor_fields(old))
        self._cast_step(job, mig["source_host"], "finish_revert_resize", migration_id=mig["id"])
        return CONTINUES

    def _finish_revert_resize(self, job):
        mig = self.store.get_migration(job.args["migration_id"])
        old = self.config.flavor(mig["old_flavor"])
        old_vm_state = job.inst["sys_meta"].get("old_vm_state", S.ACTIVE)
        self.driver.prepare_disk_for(job.uuid, self.store.get_image(job.inst["image_id"]))
        self.driver.restore_resize_source(job.uuid, start=old_vm_state == S.ACTIVE)
        self.store.update_migration(mig["id"], status="reverted", held_host=None)
        meta = {k: v for k, v in job.inst["sys_meta"].items() if k != "old_vm_state"}
        return {**_flavor_fields(old), "host": self.host.name, "vm_state": old_vm_state,
                "sys_meta": meta}

    # -- live migrate ----------------------------------------------------------------------
    def _live_migration(self, job):
        mig = self.store.get_migration(job.args["migration_id"])
        dest = mig["dest_host"]
        self.store.update_migration(mig["id"], status="running")
        start = time.monotonic()
        peer = self.peer_files(dest)
        try:
            self._prepare_live_destination(job, peer)
            self.driver.live_migrate(job.uuid, driver_uri(self.config.host(dest), self.driver.state_dir),
                                     dest)
        except Exception as e:
            peer.close()
            self.log.error("Live migration failed.", ctx=job.ctx, instance=job.uuid)
            self.store.update_migration(mig["id"], status="error", held_host=None)
            raise self.rollback(e, vm_state=job.inst["vm_state"]) from e
        self.virtlog.info("Migration operation has completed", ctx=job.ctx, instance=job.uuid)
        self.log.info(f"Migrating instance to {dest} finished successfully.", ctx=job.ctx,
                      instance=job.uuid)
        self._took(job, start, "live migrate the instance")
        peer.close()
        self.driver.delete_files(job.uuid)  # the guest and its disk live on the destination now
        self.store.update_migration(mig["id"], status="completed", held_host=None)
        return {"host": dest, "power_state": job.inst["power_state"]}

    def _prepare_live_destination(self, job, peer) -> None:
        """pre_live_migration: the instance directory and the image's base on the destination
        (a block migration copies the overlay, not what it is backed by)."""
        peer.makedirs(peer.instance_dir(job.uuid))
        image = self.store.get_image(job.inst["image_id"])
        if image is not None and self.driver.disk_format == "qcow2":
            base = peer.root / "_base" / image["id"]
            if not peer.exists(base):
                copy_disk(self.driver.image_files, Path(image["path"]), peer, base, None,
                          image["checksum"] or None)

    # -- evacuate --------------------------------------------------------------------------
    def _evacuate(self, job):
        """Destination: rebuild the instance here from its image; the source is down."""
        mig = self.store.get_migration(job.args["migration_id"])
        image = self.store.get_image(job.inst["image_id"])
        was_stopped = job.inst["vm_state"] == S.STOPPED
        self.log.info("Evacuating instance", ctx=job.ctx, instance=job.uuid)
        try:
            job.task(S.REBUILD_BLOCK_DEVICE_MAPPING)
            self.driver.create_disk(job.uuid, image, progress=job.progress)
            job.task(S.REBUILD_SPAWNING)
            self.driver.spawn({**job.inst, "host": self.host.name}, image, start=not was_stopped)
        except Exception as e:
            self._cleanup_guest(job.uuid, keep_ips=True)
            self.store.update_migration(mig["id"], status="failed", held_host=None)
            raise self.rollback(e, vm_state=S.ERROR, host=mig["source_host"], progress=None) from e
        self.store.update_migration(mig["id"], status="done", held_host=None)
        return {"host": self.host.name, "vm_state": S.STOPPED if was_stopped else S.ACTIVE,
                "progress": None}
