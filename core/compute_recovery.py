"""Start-up recovery of a compute service (Nova's init_host / _init_instance), and the
clean-up of what a deleted instance left on a host. Mixed into ComputeManager.

Recovery never undoes work that is still queued: a step whose claimer died is given back to
the queue and runs again (every step is idempotent), and a step queued for a host is carried
on by whichever process drives that host next. Only an instance whose task has no step queued
or running anywhere is recovered here, from its migration record and the files on the hosts.
"""
from __future__ import annotations

from . import states as S
from .api import new_request_id
from .bus import compute_topic
from .compute_moves import resume_step
from .compute_shared import describe_migration


class RecoveryOps:
    def init_host(self) -> None:
        """Requeue what a dead owner of this host was running, then recover the instances
        whose task has no step left anywhere, then clean this host."""
        again = self.store.requeue_claims(self.topic, lambda owner: owner == self.bus.owner)
        if again:
            self.log.info(f"{again} step(s) interrupted by the previous owner's exit run again")
        for inst in self.store.list_instances(self.host.name):
            if inst["task_state"] is not None and not self.store.messages_for(inst["uuid"]):
                try:
                    self._recover(inst)
                except Exception as e:  # noqa: BLE001 - one instance must not stop the host
                    self.log.error(f"Recovery at start-up failed: {type(e).__name__}: {e}",
                                   instance=inst["uuid"])
        for mig in self.store.migrations_in("confirming", self.host.name):
            if not self.store.messages_for(mig["instance_uuid"]):  # confirm holds no task_state
                self._resume_move(self.store.get_instance(mig["instance_uuid"]), mig,
                                  self.store.open_request(mig["instance_uuid"]))
        for step in (self._destroy_orphans, self._sweep_files, self.sync_power_states):
            try:
                step()
            except Exception as e:  # noqa: BLE001
                self.log.error(f"{step.__name__} at start-up failed: {type(e).__name__}: {e}")

    def _recover(self, inst: dict) -> None:
        uuid, task = inst["uuid"], inst["task_state"]
        ctx = self.store.open_request(uuid)
        mig = self.store.active_migration(uuid)
        if task == S.DELETING:
            self.log.info("Instance found in task_state deleting at start-up; finishing the delete",
                          instance=uuid)
            others = {mig["source_host"], mig["dest_host"]} - {None, self.host.name} if mig else set()
            fields = self.terminate(uuid, ctx)
            with self.store.tx():
                if mig:
                    self.store.update_migration(mig["id"], status="error", held_host=None)
                self._cast_cleanups(uuid, ctx, others)
                inst = self.store.update_instance(uuid, task_state=None, **fields)
                if ctx:
                    self.store.finish_action(ctx)
        elif mig is not None and self._resume_move(inst, mig, ctx):
            return
        elif task in S.BUILD_TASKS:
            self.log.warning(f"Instance failed to spawn: the service restarted during {task}",
                             instance=uuid)
            self._cleanup_guest(uuid)
            with self.store.tx():
                self.store.add_fault(uuid, 500, "Instance build was interrupted by a restart of "
                                     "the compute service", None, self.host.name, ctx)
                inst = self.store.update_instance(uuid, task_state=None, vm_state=S.ERROR,
                                                  host=None, ip=None)
                if ctx:
                    self.store.finish_action(ctx, error=True)
        elif task in S.REBUILD_TASKS and inst["vm_state"] in (S.ACTIVE, S.STOPPED):
            self.log.debug("Instance failed to rebuild correctly, setting to ERROR state",
                           instance=uuid)
            with self.store.tx():
                inst = self.store.update_instance(uuid, task_state=None, vm_state=S.ERROR)
                if ctx:
                    self.store.finish_action(ctx, error=True)
        elif self._retry_at_start(inst, ctx):
            return
        else:
            self.log.info(f"Instance found in task_state {task} at start-up; resetting it",
                          instance=uuid)
            with self.store.tx():
                inst = self.store.update_instance(uuid, task_state=None,
                                                  power_state=self.driver.power_state(uuid))
                if ctx:
                    self.store.finish_action(ctx, error=True)
        self.changed(inst)

    def _retry_at_start(self, inst: dict, ctx: str | None) -> bool:
        """Nova's _init_instance for a power task cut short: stop and start are retried, a
        reboot is retried (as a hard one once the guest went down), a reboot, pause or
        unpause that left the guest running just ends."""
        uuid, task = inst["uuid"], inst["task_state"]
        power = self.driver.power_state(uuid)
        soft, hard = S.REBOOT_STATES, S.HARD_REBOOT_STATES
        retry = {S.POWERING_OFF: "stop", S.POWERING_ON: "start"}.get(task)
        if task in soft + hard and (task in (S.REBOOT_PENDING, S.REBOOT_PENDING_HARD)
                                    or power != S.RUNNING):
            retry = "reboot" if task in soft and power == S.RUNNING else "reboot_hard"
            if retry == "reboot_hard" and task in soft:
                self.store.update_instance(uuid, task_state=S.REBOOT_PENDING_HARD)
        elif task == S.UNPAUSING and power == S.PAUSED_POWER:
            retry = "unpause"
        elif power == S.RUNNING and task in (S.REBOOT_STARTED, S.REBOOT_STARTED_HARD, S.REBOOTING,
                                             S.REBOOTING_HARD, S.PAUSING, S.UNPAUSING):
            self.log.warning(f"Instance in transitional state ({task}) at start-up and power "
                             f"state is ({power}), clearing task state", instance=uuid)
            with self.store.tx():
                self.changed(self.store.update_instance(uuid, task_state=None, vm_state=S.ACTIVE,
                                                        power_state=power))
                if ctx:
                    self.store.finish_action(ctx)
            return True
        if retry is None:
            return False
        self.log.debug(f"Instance in transitional state {task} at start-up retrying {retry} "
                       "request", instance=uuid)
        self.bus.cast_unless_queued(self.topic, retry, ctx or new_request_id(), uuid=uuid,
                                    action=retry)
        return True

    def _resume_move(self, inst: dict, mig: dict, ctx: str | None) -> bool:
        """A move with no step queued anywhere: send the step its migration's status says
        comes next (the step checks the status again, so a re-send is harmless)."""
        step = resume_step(inst, mig)
        if step is None:
            return False
        host, method, args = step
        sent = self.bus.cast_unless_queued(compute_topic(host), method, ctx or mig["request_id"],
                                           uuid=inst["uuid"], migration_id=mig["id"], **args)
        if sent:
            self.log.warning(f"Resuming {describe_migration(mig)}: {method} on {host}",
                             instance=inst["uuid"])
        return True

    # -- what deleted instances leave --------------------------------------------------
    def _cast_cleanups(self, uuid: str, ctx: str | None, hosts) -> None:
        for host in sorted(hosts):
            self.bus.cast(compute_topic(host), "cleanup_deleted", ctx or "", uuid=uuid)

    def cleanup_deleted(self, msg) -> None:
        """Another host deleted an instance a move had placed here too: its guest and files
        here go."""
        self._clean_if_deleted(msg.args["uuid"])
        self.bus.done(msg)

    def cleanup_evacuated(self, msg) -> None:
        """The instance was evacuated from this host and rebuilt elsewhere: its old guest and
        disk here go (at once when this service runs, else when it comes back)."""
        self._destroy_if_moved(msg.args["uuid"])
        self.bus.done(msg)

    def _clean_if_deleted(self, uuid: str) -> None:
        inst = self.store.get_instance(uuid)
        if inst is None or inst["deleted_at"] is None:
            return
        if self.driver.power_state(uuid) != S.NOSTATE or self.driver.files.exists(
                self.driver.files.instance_dir(uuid)) or self.driver.files.exists(
                self.driver.resize_dir(uuid)):
            self.log.info("Removing what a deleted instance left on this host", instance=uuid)
            self._cleanup_guest(uuid, keep_ips=True)
            self.driver.files.remove_tree(self.driver.resize_dir(uuid))

    def _destroy_orphans(self) -> None:
        """Guests whose instance was deleted while this host was down (a local delete)."""
        for uuid, inst in self.store.task_states(self.driver.guests()).items():
            if inst["deleted_at"] is not None:
                self.log.warning("Destroying instance deleted while its host was down",
                                 instance=uuid)
                self._clean_if_deleted(uuid)

    def _idle(self, uuid: str) -> bool:
        inst = self.store.get_instance(uuid)
        return (inst is not None and inst["task_state"] is None
                and not self.store.messages_for(uuid))

    def _sweep_files(self) -> None:
        """Instance directories here that nothing will use: those of deleted instances, and
        the partial copies (.part) of instances with no step in flight."""
        files = self.driver.files
        names = files.list_dir(files.root)
        known = self.store.task_states({name.removesuffix("_resize") for name in names})
        busy = {m["payload"]["args"].get("uuid") for m in self.store.pending_messages()}
        for name in names:
            uuid = name.removesuffix("_resize")
            inst = known.get(uuid)
            if inst is None:
                continue  # not ours to judge
            if inst["deleted_at"] is not None:
                self.log.warning(f"Removing {name}: its instance is deleted", instance=uuid)
                files.remove_tree(files.root / name)
            elif inst["task_state"] is None and uuid not in busy:
                parts = [e for e in files.list_dir(files.root / name) if ".part-" in e]
                if parts and self._idle(uuid):  # asked again: a step may have come since
                    for entry in parts:
                        files.remove(files.root / name / entry)
        base = files.root / "_base"
        for entry in files.list_dir(base):
            if ".part-" in entry:
                files.remove(base / entry)
