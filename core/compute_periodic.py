"""Periodic work of a compute service (Nova's periodic tasks): the power-state sync, libvirt
lifecycle events, resize auto-confirm and shelved offload. Mixed into ComputeManager."""
from __future__ import annotations

import time

from . import states as S
from .actions import ACTIONS
from .bus import compute_topic
from .errors import DriverError, UnexpectedTaskState
from .api import new_request_id


class PeriodicOps:
    def _request_self(self, action_name: str, inst: dict, host: str, reason: str, **args) -> None:
        """A periodic task asks for an action as the API would: CAS, record, cast."""
        action = ACTIONS[action_name]
        ctx = new_request_id()
        with self.store.tx():  # the take, the record and the cast commit together
            taken = self.store.begin_task(inst["uuid"], action.vm_states, action.task_states,
                                          False, action.task_state)
            if taken is None:
                return
            if action.takes_migration:
                args["migration_id"] = self.store.take_migration(inst["uuid"], action.takes_migration)
                if args["migration_id"] is None:
                    return
            self.store.start_action(inst["uuid"], action.instance_action, ctx)
            self.bus.cast(compute_topic(host), action_name, ctx, uuid=inst["uuid"], **args)
        self.log.info(reason, ctx=ctx, instance=inst["uuid"])
        self.changed(taken)

    def _poll_unconfirmed_resizes(self) -> None:
        window = self.config.scheduler.resize_confirm_window
        if window <= 0:
            return
        for mig in self.store.finished_migrations(self.host.name, time.time() - window):
            inst = self.store.get_instance(mig["instance_uuid"])
            if inst and inst["vm_state"] == S.RESIZED and inst["task_state"] is None:
                self._request_self("confirm_resize", inst, mig["source_host"],
                                   f"Automatically confirming migration {mig['id']} for instance "
                                   f"{inst['uuid']}")

    def _poll_shelved_instances(self) -> None:
        wait = self.config.scheduler.shelved_offload_time
        if wait <= 0:
            return
        for inst in self.store.list_instances(self.host.name):
            shelved_at = inst["sys_meta"].get("shelved_at")
            if inst["vm_state"] == S.SHELVED and shelved_at and time.time() - shelved_at > wait:
                self._request_self("shelve_offload", inst, self.host.name,
                                   f"Shelved instance offloaded after {wait} seconds")

    def _destroy_evacuated(self, guests) -> None:
        """Guests here whose instance now lives on another host (evacuated while this host was
        down) are destroyed, so an instance never runs on two hosts."""
        for uuid in guests:
            self._destroy_if_moved(uuid)

    def _destroy_if_moved(self, uuid: str) -> None:
        inst = self.store.get_instance(uuid)
        if (inst is not None and inst["deleted_at"] is None and inst["host"] not in (None, self.host.name)
                and inst["task_state"] is None and self.store.active_migration(uuid) is None):
            self.log.info("Destroying instance as it has been evacuated from this host but still "
                          f"exists in the hypervisor (it is on {inst['host']} now)",
                             instance=uuid)
            self._cleanup_guest(uuid, keep_ips=True)

    LIFECYCLE = {0: "Defined", 1: "Undefined", 2: "Started", 3: "Paused", 4: "Resumed",
                 5: "Stopped", 6: "Shutdown", 7: "PMSuspended", 8: "Crashed"}

    def _lifecycle_event(self, uuid: str, event: int) -> None:
        """On libvirt's event thread: hand the event to this service's thread."""
        self.post(self._on_lifecycle, uuid, event)

    # The power state a lifecycle event says the guest is in.
    EVENT_POWER = {"Started": S.RUNNING, "Resumed": S.RUNNING, "Paused": S.PAUSED_POWER,
                   "Stopped": S.SHUTDOWN}

    def _on_lifecycle(self, uuid: str, event: int) -> None:
        name = self.LIFECYCLE.get(event)
        if self.committed_power.pop(uuid, None) == self.EVENT_POWER.get(name, -1):
            # The event of this service's own step, which committed that very power state:
            # the sync would read the instance to find nothing to do (a script's burst:
            # one read and one libvirt call less per request).
            self.log.info(f"VM {name} (Lifecycle Event)", instance=uuid)
            return
        inst = self.store.get_instance(uuid)
        if inst is None or inst["host"] != self.host.name or inst["deleted_at"] is not None:
            return
        if name in ("Started", "Paused", "Resumed", "Stopped", "Suspended"):
            self.log.info(f"VM {name} (Lifecycle Event)", instance=uuid)
        if inst["task_state"] is None:  # an operation in flight owns the state
            self._sync_one(inst, self.driver.power_state(uuid))

    def sync_power_states(self) -> None:
        """Nova's _sync_power_states: the hypervisor is the authority on power."""
        try:
            guests = self.driver.guests()
        except DriverError as e:
            self.log.warning(f"Power-state sync skipped: {e}")
            return
        instances = self.store.list_instances(self.host.name)
        here = {inst["uuid"] for inst in instances}
        # Only a guest whose instance is not placed here can have been evacuated: one
        # query per stray guest, not one per guest.
        self._destroy_evacuated([uuid for uuid in guests if uuid not in here])
        for inst in instances:
            if inst["task_state"] is None:
                self._sync_one(inst, guests.get(inst["uuid"], S.NOSTATE))
            else:
                self.log.debug("During sync_power_state the instance has a pending task "
                               f"({inst['task_state']}). Skip.", instance=inst["uuid"])

    def _sync_one(self, inst: dict, power: int) -> None:
        vm = inst["vm_state"]
        fields = {}
        if power != inst["power_state"]:
            self.log.warning(
                f"During _sync_instance_power_state the DB power_state ({inst['power_state']}) "
                f"does not match the vm_power_state from the hypervisor ({power}). Updating "
                "power_state in the DB to match the hypervisor.", instance=inst["uuid"])
            fields["power_state"] = power
        if vm in (S.SHELVED_OFFLOADED, S.RESCUED, S.RESIZED, S.SUSPENDED, S.ERROR, S.SHELVED):
            pass  # Nova leaves these to the operator
        elif vm in (S.ACTIVE, S.PAUSED) and power in (S.SHUTDOWN, S.CRASHED):
            self.log.warning("Instance shutdown by itself. Calling the stop API. Current "
                             f"vm_state: {vm}, current task_state: None, original DB "
                             f"power_state: {inst['power_state']}, current VM power_state: "
                             f"{power}", instance=inst["uuid"])
            self.driver.power_off(inst["uuid"], 0)
            fields.update(vm_state=S.STOPPED, power_state=S.SHUTDOWN)
        elif vm == S.STOPPED and power == S.RUNNING:
            self.log.warning("Instance is not stopped. Calling the stop API.", instance=inst["uuid"])
            self.driver.power_off(inst["uuid"], 0)
            fields["power_state"] = S.SHUTDOWN
        if fields:
            self.committed_power.pop(inst["uuid"], None)
            try:
                self.changed(self.store.update_instance(inst["uuid"], expected_task_state=None,
                                                        **fields))
            except UnexpectedTaskState:
                pass  # an operation started meanwhile; it owns the state now
