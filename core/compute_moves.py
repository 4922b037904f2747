"""Compute handlers that move an instance between hosts: cold migrate and resize (with
confirm and revert), live migrate and evacuate. A move is a chain of steps on the source and
destination services, each cast to the next as Nova's are:

    dest prep_resize (claim) -> source resize_instance (power off, copy disk) ->
    dest finish_resize (define, start; VERIFY_RESIZE) -> confirm on source | revert on dest
    -> finish_revert_resize on source

The migration record is the move's one state. Every step first checks that its status is the
one the step expects, and changes it with a compare-and-swap in the same transaction that
casts the next step and deletes its own message: a step either happened, with its successor
queued, or runs again, and each step can run again. A step that finds another status was
already done, or was ended by someone else (a delete): it does nothing.

The source keeps its disk (<uuid>_resize) until confirm; a copy is only ever deleted after
the other copy was checked against the size and sha256 the source disk had when it was
powered off.
"""
from __future__ import annotations

from pathlib import Path

from . import states as S
from .bus import compute_topic
from .compute_shared import CONTINUES, StaleStep, describe_migration
from .crashpoints import crash_point
from .errors import DriverError
from .transport import copy_disk
from .virt import driver_uri, host_files


def _flavor_fields(flavor) -> dict:
    return {"flavor": flavor.name, "vcpus": flavor.vcpus, "memory_mb": flavor.ram_mb,
            "root_gb": flavor.disk_gb}


def resume_step(inst: dict, mig: dict) -> tuple[str, str, dict] | None:
    """(host, method, args) of the step a move in this state goes on with: what recovery
    sends when no step of it is queued or running anywhere."""
    task, status, src, dst = inst["task_state"], mig["status"], mig["source_host"], mig["dest_host"]
    kind = mig["migration_type"]
    if kind == "evacuation":
        return (dst, "evacuate", {"action": "evacuate"}) if status == "pre-migrating" else None
    if kind == "live-migration":
        return (src, "live_migration", {"action": "live_migrate"}) \
            if status in ("accepted", "running") else None
    action = "resize" if kind == "resize" else "migrate"
    was_running = {"was_running": inst["power_state"] == S.RUNNING}
    steps = {
        ("pre-migrating", None): (dst, "prep_resize", {"action": action}),
        ("migrating", None): (src, "resize_instance", {"action": action}),
        ("post-migrating", None): (dst, "finish_resize", {"action": action, **was_running}),
        ("confirming", None): (src, "confirm_resize", {"action": "confirm_resize"}),
        ("finished", S.RESIZE_REVERTING): (dst, "revert_resize", {"action": "revert_resize"}),
        ("reverting", None): (src, "finish_revert_resize", {"action": "revert_resize"})
        if inst["host"] == src else (dst, "revert_resize", {"action": "revert_resize"}),
    }
    return steps.get((status, task if status == "finished" else None))


class MoveOps:
    def peer_files(self, host: str):
        return host_files(self.config.host(host), self.driver.state_dir)

    # -- the migration record: checked, swapped, handed over --------------------------------
    def _migration(self, job, *statuses: str) -> dict:
        mig = self.store.get_migration(job.args["migration_id"])
        if mig is None or mig["status"] not in statuses:
            raise StaleStep(f"{describe_migration(mig) if mig else 'its migration is gone'}; "
                            f"{job.msg.method} expects {' or '.join(statuses)}")
        return mig

    def _swap(self, mig: dict, expected, **fields) -> None:
        """Compare-and-swap the migration; StaleStep when someone else changed it first."""
        if not self.store.update_migration(mig["id"], expected_status=expected, **fields):
            now = self.store.get_migration(mig["id"])
            raise StaleStep(f"{describe_migration(now)} is no longer {expected}")

    def _hand_over(self, job, mig: dict, expected, host: str, method: str, inst_fields=None,
                   args=None, **mig_fields):
        """One transaction: the migration's swap, the instance's fields (only if nobody took
        it meanwhile), the next step's cast and this step's message."""
        with self.store.tx():
            if mig_fields:
                self._swap(mig, expected, **mig_fields)
            job.inst = self.store.update_instance(job.uuid, expected_task_state=job.task_state,
                                                  **(inst_fields or {"task_state": job.task_state}))
            merged = {**job.args, **(args or {}), "uuid": job.uuid, "action": job.action.name}
            self.bus.cast(compute_topic(host), method, job.ctx, **merged)
            job.commit()
        self.changed(job.inst)
        crash_point(f"compute.{job.msg.method}:handed_over")
        return CONTINUES

    def _verified(self, files, path, mig: dict) -> bool:
        """A copy of the moving disk that is whole: the size and sha256 the source disk had
        when it was powered off."""
        if mig["disk_sha256"] is None or not files.exists(path):
            return False
        return files.size(path) == mig["disk_size"] and files.sha256(path) == mig["disk_sha256"]

    def _kept_is_whole(self, mig: dict, uuid: str) -> bool:
        source = self.peer_files(mig["source_host"])
        try:
            return self._verified(source, source.root / f"{uuid}_resize" / "disk", mig)
        finally:
            source.close()

    def _remove_dest_copy(self, mig: dict, uuid: str) -> None:
        """The destination's copy goes, only while the source's kept copy is whole."""
        if not self._kept_is_whole(mig, uuid):
            self.log.error(f"Not removing the copy on {mig['dest_host']}: the source's copy "
                           "could not be verified", instance=uuid)
            return
        if mig["dest_host"] == self.host.name:
            self.driver.destroy(uuid)
            self.driver.delete_files(uuid)
            return
        peer = self.peer_files(mig["dest_host"])
        try:
            peer.remove_tree(peer.instance_dir(uuid))
        finally:
            peer.close()

    # -- cold migrate / resize -------------------------------------------------------------
    def _prep_resize(self, job):
        """Destination: check the claim, then hand over to the source."""
        mig = self._migration(job, "pre-migrating")
        self.log.info("Migrating", ctx=job.ctx, instance=job.uuid)  # where Nova's _prep_resize logs it
        try:
            self._claim(job, _flavor_fields(self.config.flavor(mig["new_flavor"])))
        except Exception as e:
            job.on_commit(lambda: self._swap(mig, "pre-migrating", status="error", held_host=None))
            raise self.rollback(e, vm_state=job.inst["vm_state"]) from e
        return self._hand_over(job, mig, None, mig["source_host"], "resize_instance")

    def _resize_instance(self, job):
        """Source: power off, keep the disk in <uuid>_resize, copy it to the destination."""
        mig = self._migration(job, "pre-migrating", "migrating")
        if mig["status"] == "pre-migrating":
            self._swap(mig, "pre-migrating", status="migrating")
        if job.task_state != S.RESIZE_MIGRATING:
            job.task(S.RESIZE_MIGRATING)
        was_running = job.inst["power_state"] == S.RUNNING
        dest = self.peer_files(mig["dest_host"])
        try:
            kept = self.driver.migrate_disk_and_power_off(job.uuid, self.config.compute.shutdown_timeout)
            crash_point("compute.resize_instance:powered_off")
            if mig["disk_sha256"] is None:  # the disk as it is now, powered off, is the truth
                files = self.driver.files
                mig = {**mig, "disk_size": files.size(kept), "disk_sha256": files.sha256(kept)}
                self.store.update_migration(mig["id"], disk_size=mig["disk_size"],
                                            disk_sha256=mig["disk_sha256"])
            target = dest.instance_dir(job.uuid) / "disk"
            if not self._verified(dest, target, mig):
                copy_disk(self.driver.files, kept, dest, target, job.progress, mig["disk_sha256"])
            crash_point("compute.resize_instance:copied")
        except Exception as e:
            self._undo_source(job, mig, was_running)
            job.on_commit(lambda: self._swap(mig, "migrating", status="error", held_host=None))
            raise self.rollback(e, vm_state=job.inst["vm_state"], progress=None) from e
        finally:
            dest.close()
        job.task(S.RESIZE_MIGRATED)
        return self._hand_over(job, mig, "migrating", mig["dest_host"], "finish_resize",
                               args={"was_running": was_running}, status="post-migrating")

    def _undo_source(self, job, mig: dict, was_running: bool) -> None:
        """A copy that failed: the source takes its disk back, then the partial copy goes
        (only once the source's disk is checked whole, when a copy may have been made)."""
        files = self.driver.files
        if files.exists(self.driver.resize_dir(job.uuid)):
            if mig["dest_host"] != self.host.name or self._kept_is_whole(mig, job.uuid):
                self.driver.restore_resize_source(job.uuid, start=was_running)
        if mig["dest_host"] != self.host.name and (
                mig["disk_sha256"] is None or self._verified(files, self.driver.disk_path(job.uuid), mig)):
            peer = self.peer_files(mig["dest_host"])
            try:
                peer.remove_tree(peer.instance_dir(job.uuid))
            finally:
                peer.close()
        self.log.warning(f"Migration to {mig['dest_host']} failed; the instance stays on "
                         f"{self.host.name}", ctx=job.ctx, instance=job.uuid)

    def _finish_resize(self, job):
        """Destination: define and start the guest here; the source keeps its copy."""
        mig = self._migration(job, "post-migrating")
        old, new = self.config.flavor(mig["old_flavor"]), self.config.flavor(mig["new_flavor"])
        if job.task_state != S.RESIZE_FINISH:
            job.task(S.RESIZE_FINISH)
        moved = {**job.inst, **_flavor_fields(new), "host": self.host.name}
        image = self.store.get_image(job.inst["image_id"])
        try:
            if self.driver.power_state(job.uuid) == S.NOSTATE and \
                    not self._verified(self.driver.files, self.driver.disk_path(job.uuid), mig):
                raise DriverError(f"the copy of {job.uuid} on {self.host.name} is missing or "
                                  "does not match the source's disk")
            self.driver.prepare_disk_for(job.uuid, image)
            self.driver.define(moved, (image or {}).get("disk_format", "raw"))
            crash_point("compute.finish_resize:defined")
            if job.args["was_running"]:
                self.driver.power_on(job.uuid)
        except Exception as e:
            self.log.error(f"Finishing the move failed: {e}; giving the instance back to "
                           f"{mig['source_host']}", ctx=job.ctx, instance=job.uuid)
            self._remove_dest_copy(mig, job.uuid)
            return self._hand_over(job, mig, "post-migrating", mig["source_host"],
                                   "restore_resize_source", args={"reason": str(e)},
                                   status="error", held_host=None)
        meta = {**job.inst["sys_meta"],
                "old_vm_state": S.ACTIVE if job.args["was_running"] else S.STOPPED}
        job.on_commit(lambda: self._swap(
            mig, "post-migrating", status="finished", held_host=mig["source_host"],
            held_vcpus=old.vcpus, held_memory_mb=old.ram_mb, held_root_gb=old.disk_gb))
        self.log.info(f"Instance moved from {mig['source_host']}; confirm or revert the "
                      f"{mig['migration_type']}", ctx=job.ctx, instance=job.uuid)
        return {**_flavor_fields(new), "host": self.host.name, "sys_meta": meta, "progress": None,
                "availability_zone": self.host.availability_zone}

    def _restore_resize_source(self, job):
        """Source, after the destination failed: take the disk and definition back; the
        instance ends in ERROR here (a hard reboot brings it up)."""
        self._migration(job, "error")
        self.driver.restore_resize_source(job.uuid, start=False)
        self.log.info("Disk and definition restored on the source after a failed migration",
                      ctx=job.ctx, instance=job.uuid)
        raise self.rollback(DriverError(job.args.get("reason") or "the move failed"),
                            vm_state=S.ERROR, host=self.host.name, progress=None)

    def _confirm_resize(self, job):
        """Source: delete the kept copy and free what it held."""
        mig = self._migration(job, "confirming")  # the API took it from 'finished'
        dest = self.peer_files(mig["dest_host"])
        try:
            if not dest.exists(dest.instance_dir(job.uuid) / "disk"):
                job.on_commit(lambda: self._swap(mig, "confirming", status="finished"))
                raise self.rollback(DriverError(
                    f"the instance's disk is not on {mig['dest_host']}; the copy on "
                    f"{self.host.name} is kept"), vm_state=S.RESIZED)
        finally:
            dest.close()
        self.driver.confirm_migration(job.uuid)
        job.on_commit(lambda: self._swap(mig, "confirming", status="confirmed", held_host=None))
        meta = {k: v for k, v in job.inst["sys_meta"].items() if k != "old_vm_state"}
        running = job.inst["power_state"] == S.RUNNING
        return {"vm_state": S.ACTIVE if running else S.STOPPED, "sys_meta": meta,
                "power_state": job.inst["power_state"]}

    def _revert_resize(self, job):
        """Destination: drop the new guest and its disk, then hand back to the source."""
        mig = self.store.active_migration(job.uuid)
        job.args = {**job.args, "migration_id": mig["id"] if mig else None}
        mig = self._migration(job, "finished", "reverting")
        if mig["status"] == "finished":
            if not self._kept_is_whole(mig, job.uuid):
                raise self.rollback(DriverError(
                    f"the copy kept on {mig['source_host']} is missing or damaged; the "
                    f"instance stays on {self.host.name}"), vm_state=S.RESIZED)
            self._swap(mig, "finished", status="reverting", held_host=None)
        self.driver.destroy(job.uuid)
        if mig["source_host"] != self.host.name:
            self.driver.delete_files(job.uuid)
        crash_point("compute.revert_resize:dest_removed")
        old = self.config.flavor(mig["old_flavor"])
        # From here the instance is the source's: if that step fails, it is in ERROR there,
        # where its disk is, never on a host that no longer has it.
        return self._hand_over(job, mig, None, mig["source_host"], "finish_revert_resize",
                               inst_fields={"host": mig["source_host"], **_flavor_fields(old),
                                            "availability_zone": self.config.host(mig["source_host"]).availability_zone},
                               args={"migration_id": mig["id"]})

    def _finish_revert_resize(self, job):
        mig = self._migration(job, "reverting")
        old = self.config.flavor(mig["old_flavor"])
        old_vm_state = job.inst["sys_meta"].get("old_vm_state", S.ACTIVE)
        self.driver.prepare_disk_for(job.uuid, self.store.get_image(job.inst["image_id"]))
        self.driver.restore_resize_source(job.uuid, start=old_vm_state == S.ACTIVE)
        job.on_commit(lambda: self._swap(mig, "reverting", status="reverted", held_host=None))
        meta = {k: v for k, v in job.inst["sys_meta"].items() if k != "old_vm_state"}
        return {**_flavor_fields(old), "host": self.host.name, "vm_state": old_vm_state,
                "sys_meta": meta}

    # -- live migrate ----------------------------------------------------------------------
    def _live_migration(self, job):
        mig = self._migration(job, "accepted", "running")
        dest = mig["dest_host"]
        if mig["status"] == "running" and self.driver.migration_running(job.uuid):
            # A run before this one was cut while libvirt migrated the guest: the daemon
            # carries that migration on, and where the guest ends up is known once it ends.
            self.log.info("Waiting for the migration libvirt is still running", ctx=job.ctx,
                          instance=job.uuid)
            self.driver.wait_for_migration(job.uuid)
        if mig["status"] != "running" or self.driver.power_state(job.uuid) != S.NOSTATE:
            self.store.update_migration(mig["id"], status="running")
            peer = self.peer_files(dest)
            try:
                disk = self._prepare_live_destination(job, peer)
                crash_point("compute.live_migration:prepared")
                self.driver.live_migrate(job.uuid, driver_uri(self.config.host(dest), self.driver.state_dir),
                                         dest, disk)
            except Exception as e:
                self.log.error("Live migration failed.", ctx=job.ctx, instance=job.uuid)
                self._rollback_live_destination(job, peer, dest)
                job.on_commit(lambda: self._swap(mig, ("accepted", "running"), status="error",
                                                 held_host=None))
                raise self.rollback(e, vm_state=job.inst["vm_state"]) from e
            finally:
                peer.close()
            crash_point("compute.live_migration:migrated")
            self.virtlog.info("Migration operation has completed", ctx=job.ctx, instance=job.uuid)
            self.log.info(f"Migrating instance to {dest} finished successfully.", ctx=job.ctx,
                          instance=job.uuid)
        self.driver.delete_files(job.uuid)  # the guest and its disk live on the destination now
        job.on_commit(lambda: self._swap(mig, ("accepted", "running"), status="completed",
                                         held_host=None))
        return {"host": dest, "power_state": job.inst["power_state"],
                "availability_zone": self.config.host(dest).availability_zone}

    def _prepare_live_destination(self, job, peer):
        """pre_live_migration: the image's base on the destination (a block migration copies
        the overlay, not what it is backed by), then the instance directory and an empty
        overlay for the migration to fill. Returns the disk's path there."""
        image = self.store.get_image(job.inst["image_id"])
        if image is not None and self.driver.disk_format == "qcow2":
            base = peer.root / "_base" / image["id"]
            if not peer.exists(base):
                copy_disk(self.driver.image_files, Path(image["path"]), peer, base, None,
                          image["checksum"] or None)
        return self.driver.pre_live_migration(job.uuid, peer)

    def _rollback_live_destination(self, job, peer, dest: str) -> None:
        """rollback_live_migration_at_destination: what pre_live_migration made there goes,
        when the guest is still here (never the copy a guest runs from)."""
        try:
            if self.driver.rollback_live_migration_at_destination(job.uuid, peer):
                return
            self.log.warning(f"Leaving the instance's directory on {dest}: the guest is not "
                             "provably back here, or its disk there is in use", ctx=job.ctx,
                             instance=job.uuid)
        except Exception as e:  # noqa: BLE001 - the migration's own error is the one to report
            self.log.warning(f"Could not clean up the instance's directory on {dest}: {e}",
                             ctx=job.ctx, instance=job.uuid)

    # -- evacuate --------------------------------------------------------------------------
    def _evacuate(self, job):
        """Destination: rebuild the instance here from its image; the source is down."""
        mig = self._migration(job, "pre-migrating")
        image = self.store.get_image(job.inst["image_id"])
        # Nova's _do_rebuild_instance: a target_state (microversion 2.95) wins, unless the
        # instance was in ERROR, which comes back ACTIVE as before.
        meta = {k: v for k, v in job.inst["sys_meta"].items() if k != "evacuate_target_state"}
        target = job.inst["sys_meta"].get("evacuate_target_state")
        was_stopped = job.inst["vm_state"] == S.STOPPED or (
            target == S.STOPPED and job.inst["vm_state"] != S.ERROR)
        self.log.info("Evacuating instance", ctx=job.ctx, instance=job.uuid)
        try:
            if job.task_state != S.REBUILD_BLOCK_DEVICE_MAPPING:
                job.task(S.REBUILD_BLOCK_DEVICE_MAPPING)
            job.task(S.REBUILD_SPAWNING)
            self.virtlog.info("Creating image(s)", ctx=job.ctx, instance=job.uuid)
            self.driver.create_disk(job.uuid, image, progress=job.progress)
            crash_point("compute.evacuate:disk_created")
            self.driver.spawn({**job.inst, "host": self.host.name}, image, start=not was_stopped)
            self.virtlog.info("Instance spawned successfully.", ctx=job.ctx, instance=job.uuid)
        except Exception as e:
            self._cleanup_guest(job.uuid, keep_ips=True)
            job.on_commit(lambda: self._swap(mig, "pre-migrating", status="failed", held_host=None))
            raise self.rollback(e, vm_state=S.ERROR, host=mig["source_host"], progress=None,
                                availability_zone=self.config.host(mig["source_host"]).availability_zone) from e
        def done():
            self._swap(mig, "pre-migrating", status="done", held_host=None)
            self.bus.cast(compute_topic(mig["source_host"]), "cleanup_evacuated", job.ctx,
                          uuid=job.uuid)
        job.on_commit(done)
        return {"host": self.host.name, "vm_state": S.STOPPED if was_stopped else S.ACTIVE,
                "progress": None, "sys_meta": meta}
