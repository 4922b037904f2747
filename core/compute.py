"""The compute service of one host (nova-compute): it consumes its topic on the bus and does
the hypervisor work through the virt driver, one operation at a time.

Every operation runs inside `_run`, which is Nova's @reverts_task_state,
@wrap_instance_event and @wrap_instance_fault in one place: the handlers below only talk to
the hypervisor and say what changed.
"""
from __future__ import annotations

import queue
import threading
import time
import traceback
from concurrent.futures import Future
from typing import Callable

from . import states as S
from .actions import ACTIONS, Action
from .bus import CONDUCTOR, Message, MessageBus, compute_topic
from .compute_images import ImageOps
from .compute_moves import MoveOps
from .compute_shared import CONTINUES, ComputeResourcesUnavailable, Rollback
from .config import Config, HostConfig
from .errors import DriverError, NovaError, UnexpectedTaskState
from .events import ActionFinished, InstanceChanged
from .images import ImageStore
from .logs import LogSink, ServiceLog
from .store import Store
from .virt import LibvirtDriver
from .api import new_request_id

HEARTBEAT_SECONDS = 2.0
RECONNECT_SECONDS = 5.0


class Job:
    """One operation on one instance: its request id and the task_state it holds now."""

    def __init__(self, mgr: "ComputeManager", msg: Message, inst: dict, action: Action):
        self.mgr, self.msg, self.inst, self.action = mgr, msg, inst, action
        self.ctx = msg.request_id
        self.uuid = inst["uuid"]
        self.task_state = inst["task_state"]
        self.args = msg.args

    def task(self, new: str | None) -> None:
        """Move to the next task_state, only if nobody else took the instance meanwhile."""
        self.inst = self.mgr.store.update_instance(self.uuid, expected_task_state=self.task_state,
                                                   task_state=new)
        self.task_state = new
        self.mgr.changed(self.inst)

    def progress(self, done: int, total: int) -> None:
        """A disk copy's progress, shown in the instance's row (a few updates, not one per chunk)."""
        percent = 100 * done // total if total else 100
        now = time.monotonic()
        if percent != 100 and now - self._last_progress < 0.5:
            return
        self._last_progress = now
        self.inst = self.mgr.store.update_instance(self.uuid, progress=percent)
        self.mgr.changed(self.inst)

    _last_progress = 0.0


class ComputeManager(ImageOps, MoveOps):
    rollback = Rollback

    def __init__(self, host: HostConfig, config: Config, driver: LibvirtDriver, store: Store,
                 bus: MessageBus, images: ImageStore, sink: LogSink,
                 notify: Callable[[object], None]):
        self.host, self.config, self.driver = host, config, driver
        self.store, self.bus, self.images, self.notify = store, bus, images, notify
        self.topic = compute_topic(host.name)
        self.log = ServiceLog(sink, "n-cpu", "nova.compute.manager", host=host.name)
        self.virtlog = ServiceLog(sink, "n-cpu", "nova.virt.libvirt.driver", host=host.name)
        self.resources: dict = {}
        self.connected = False
        self.ready = threading.Event()
        self._next_heartbeat = 0.0
        self._next_sync = 0.0
        self._calls: queue.SimpleQueue = queue.SimpleQueue()

    def call(self, fn: Callable, *args) -> Future:
        """Run a read-only driver call on this service's thread (callers never touch libvirt)."""
        future: Future = Future()
        self._calls.put((future, fn, args))
        self.bus.wake(self.topic)
        return future

    def _run_calls(self) -> None:
        while True:
            try:
                future, fn, args = self._calls.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except Exception as e:  # noqa: BLE001 - handed to the caller
                    future.set_exception(e)

    # -- the service loop (its own thread) ---------------------------------------------
    def serve(self, stop: threading.Event) -> None:
        while not stop.is_set() and not self._connect():
            self.ready.set()  # down, but started: callers need not wait for it
            stop.wait(RECONNECT_SECONDS)
        if stop.is_set():
            return
        self.init_host()
        self.ready.set()
        while not stop.is_set():
            try:
                msg = self.bus.consume(self.topic)
                if msg is not None:
                    try:
                        self.handle(msg)
                    finally:
                        self.bus.done(msg)
                self._run_calls()
                self.periodic()
            except Exception as e:  # noqa: BLE001 - the service must outlive one bad step
                self.log.error(f"Unexpected error in the compute service: {type(e).__name__}: {e}")
                stop.wait(0.5)
        self.driver.close()

    def _connect(self) -> bool:
        try:
            self.driver.connect(on_event=self._lifecycle_event
                                if self.config.compute.handle_lifecycle_events else None)
            self.resources = self.driver.resources()
        except (DriverError, OSError) as e:
            self.log.error(str(e))
            self.store.set_service(self.host.name, last_error=str(e), uri=self.driver.uri)
            self.notify_host()
            return False
        self.connected = True
        self.store.set_service(self.host.name, uri=self.driver.uri, last_error=None, **self.resources)
        self.store.heartbeat(self.host.name, None)
        self.log.info(f"Compute service started on {self.host.name} ({self.driver.uri})")
        self.notify_host()
        return True

    def periodic(self) -> None:
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_SECONDS
            if self.driver.alive():
                self.store.heartbeat(self.host.name, None)
            else:
                self.log.error(f"Connection to {self.driver.uri} lost")
                self.connected = False
                self.notify_host()
                self.driver.close()
                self._connect()
        if now >= self._next_sync and self.connected:
            self._next_sync = now + self.config.compute.sync_power_state_interval
            self.sync_power_states()
            self._poll_unconfirmed_resizes()
            self._poll_shelved_instances()

    def notify_host(self) -> None:
        self.notify(("host", self.host.name))

    def changed(self, inst: dict) -> None:
        self.notify(InstanceChanged(inst))

    def handle(self, msg: Message) -> None:
        """A message names a step (its handler `_<method>`) of an action of the table: the
        action itself, or one step of a move that spans hosts (args["action"])."""
        if msg.method == "build_and_run_instance":
            self.build_and_run_instance(msg)
            return
        action = ACTIONS.get(msg.args.get("action", msg.method))
        if action is None or not hasattr(self, "_" + msg.method):
            self.log.error(f"Unknown method {msg.method!r} on topic {self.topic}", ctx=msg.request_id)
            return
        self._run(msg, action)

    # -- Nova's wrappers -----------------------------------------------------------------
    def _run(self, msg: Message, action: Action) -> None:
        inst = self.store.get_instance(msg.args["uuid"])
        if inst is None or inst["deleted_at"] is not None:
            self.store.finish_action(msg.request_id, error=True)  # nobody waits forever
            return
        job = Job(self, msg, inst, action)
        if inst["task_state"] == S.DELETING and action.task_state != S.DELETING:
            # Delete wins: a step queued before it must not take the instance back.
            self._preempted(job, None, UnexpectedTaskState(
                f"Instance {job.uuid} is being deleted; {msg.method} skipped"))
            return
        step = action.event if msg.method == action.name else msg.method
        event = self.store.start_event(job.ctx, f"compute_{step}", self.host.name)
        try:
            fields = getattr(self, "_" + msg.method)(job)
            if fields is CONTINUES:
                self.store.finish_event(event, "Success")
                return
            fields = fields or {}
            if action.end_vm_state:
                fields.setdefault("vm_state", action.end_vm_state)
            if "power_state" not in fields:
                fields["power_state"] = self.driver.power_state(job.uuid)
            with self.store.tx():  # the end state and the records commit together
                inst = self.store.update_instance(job.uuid, expected_task_state=job.task_state,
                                                  task_state=None, **fields)
                self.store.finish_event(event, "Success")
                self.store.finish_action(job.ctx)
        except UnexpectedTaskState as e:
            self._preempted(job, event, e)
            return
        except Rollback as e:
            self._fail(job, event, e.cause, **e.fields)
            return
        except Exception as e:  # noqa: BLE001 - every failure becomes a fault, as in Nova
            self._fail(job, event, e)
            return
        self.changed(inst)
        self.notify(ActionFinished(job.ctx, job.uuid, action.name, True))

    def _preempted(self, job: Job, event, exc: Exception) -> None:
        self.log.warning(f"Task possibly preempted: {exc}", ctx=job.ctx, instance=job.uuid)
        self.store.finish_event(event, "Error", str(exc))
        self.store.finish_action(job.ctx, error=True)
        self.notify(ActionFinished(job.ctx, job.uuid, job.action.name, False, str(exc)))

    def _fail(self, job: Job, event, exc: Exception, vm_state: str | None = None,
              **fields) -> None:
        """Nova's failure policy: fault, event Error, task_state reset, vm_state ERROR only
        where the guest's state is unknown."""
        code = getattr(exc, "code", 500)
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        details = traceback.format_exc() if not isinstance(exc, NovaError) else None
        try:
            power = fields.pop("power_state", None)
            if power is None:
                power = self.driver.power_state(job.uuid)
        except Exception:  # noqa: BLE001 - the host itself may be the failure
            power = job.inst["power_state"]
        policy = job.action.on_error
        if vm_state is None and (policy == "error" or (
                policy == "error_unless_running" and power != S.RUNNING)):
            vm_state = S.ERROR
        if vm_state is not None:
            fields["vm_state"] = vm_state
        self.log.error(f"{type(exc).__name__}: {message}", ctx=job.ctx, instance=job.uuid)
        self.store.add_fault(job.uuid, code, message, details, self.host.name, job.ctx)
        try:
            inst = self.store.update_instance(job.uuid, expected_task_state=job.task_state,
                                              task_state=None, power_state=power, **fields)
            self.log.info(f"Successfully reverted task state from {job.task_state} on failure "
                          "for instance.", ctx=job.ctx, instance=job.uuid)
            if vm_state == S.ERROR:
                self.log.info("Setting instance vm_state to ERROR", ctx=job.ctx, instance=job.uuid)
            self.changed(inst)
        except UnexpectedTaskState as e:
            self.log.warning(f"Task possibly preempted: {e}", ctx=job.ctx, instance=job.uuid)
        self.store.finish_event(event, "Error", details or message)
        self.store.finish_action(job.ctx, error=True)
        self.notify(ActionFinished(job.ctx, job.uuid, job.action.name, False, message))

    def _took(self, job: Job, start: float, what: str) -> None:
        self.log.info(f"Took {time.monotonic() - start:0.2f} seconds to {what}.",
                      ctx=job.ctx, instance=job.uuid)

    # -- build -------------------------------------------------------------------------
    def build_and_run_instance(self, msg: Message) -> None:
        inst = self.store.get_instance(msg.args["uuid"])
        if inst is None or inst["deleted_at"] is not None or inst["host"] != self.host.name \
                or inst["task_state"] != S.SCHEDULING:
            return  # deleted (or taken) while it waited: the delete cleans up
        job = Job(self, msg, inst, ACTIONS["create"])
        event = self.store.start_event(job.ctx, "compute__do_build_and_run_instance", self.host.name)
        start = time.monotonic()
        self.log.debug("Starting instance...", ctx=job.ctx, instance=job.uuid)
        try:
            self._claim(job)
            job.task(S.NETWORKING)
            ip = self.store.allocate_ip(self.config.network_name, job.uuid, self._addresses())
            job.inst = self.store.update_instance(job.uuid, ip=ip)
            job.task(S.BLOCK_DEVICE_MAPPING)
            job.task(S.SPAWNING)
            spawn_start = time.monotonic()
            self.virtlog.info("Creating image(s)", ctx=job.ctx, instance=job.uuid)
            image = self.store.get_image(inst["image_id"])
            if image is None:
                raise DriverError(f"Image {inst['image_id']} could not be found.")
            self.driver.create_disk(job.uuid, image)
            self.driver.spawn(job.inst, image)
            self.virtlog.info("Instance spawned successfully.", ctx=job.ctx, instance=job.uuid)
            self._took(job, spawn_start, "spawn the instance on the hypervisor")
            inst = self.store.update_instance(
                job.uuid, expected_task_state=S.SPAWNING, task_state=None, vm_state=S.ACTIVE,
                power_state=self.driver.power_state(job.uuid), launched_at=time.time())
        except UnexpectedTaskState as e:
            self._preempted(job, event, e)  # deleted while building: the delete cleans up
            return
        except Exception as e:  # noqa: BLE001
            self._build_failed(job, event, e)
            return
        self._took(job, start, "build instance")
        self.store.finish_event(event, "Success")
        self.store.finish_action(job.ctx)
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
                self.store.update_instance(job.uuid, expected_task_state=job.task_state,
                                           task_state=S.SCHEDULING, host=None, ip=None)
            except UnexpectedTaskState as e:
                self._preempted(job, event, e)
                return
            self.log.debug(f"Build of instance {job.uuid} was re-scheduled: {exc}",
                           ctx=job.ctx, instance=job.uuid)
            self.store.finish_event(event, "Error", str(exc))
            self.bus.cast(CONDUCTOR, "build_instances", job.ctx, uuid=job.uuid, tried=tried)
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

    # -- lifecycle handlers: hypervisor work only; _run does the bookkeeping ------------
    def _start(self, job: Job):
        self.log.info("Powering on", ctx=job.ctx, instance=job.uuid)
        self.driver.power_on(job.uuid)

    def _stop(self, job: Job):
        timeout = self.config.compute.shutdown_timeout
        took = self.driver.power_off(job.uuid, timeout)
        if took is None:
            self.virtlog.info(f"Instance failed to shutdown in {timeout:.0f} seconds.",
                              ctx=job.ctx, instance=job.uuid)
        else:
            self.virtlog.info(f"Instance shutdown successfully after {took:.0f} seconds.",
                              ctx=job.ctx, instance=job.uuid)

    def _reboot(self, job: Job):
        self.log.info("Rebooting instance", ctx=job.ctx, instance=job.uuid)
        job.task(S.REBOOT_PENDING)
        job.task(S.REBOOT_STARTED)
        if self.driver.soft_reboot(job.uuid, self.config.compute.shutdown_timeout):
            self.virtlog.info("Instance soft rebooted successfully.", ctx=job.ctx, instance=job.uuid)
        else:
            self.virtlog.warning("Failed to soft reboot instance. Trying hard reboot.",
                                 ctx=job.ctx, instance=job.uuid)
            self.driver.hard_reboot(job.uuid)
            self.virtlog.info("Instance rebooted successfully.", ctx=job.ctx, instance=job.uuid)

    def _reboot_hard(self, job: Job):
        self.log.info("Rebooting instance", ctx=job.ctx, instance=job.uuid)
        job.task(S.REBOOT_PENDING_HARD)
        job.task(S.REBOOT_STARTED_HARD)
        self.driver.hard_reboot(job.uuid)
        self.virtlog.info("Instance rebooted successfully.", ctx=job.ctx, instance=job.uuid)

    def _pause(self, job: Job):
        self.log.info("Pausing", ctx=job.ctx, instance=job.uuid)
        self.driver.pause(job.uuid)

    def _unpause(self, job: Job):
        self.log.info("Unpausing", ctx=job.ctx, instance=job.uuid)
        self.driver.unpause(job.uuid)

    def _suspend(self, job: Job):
        self.log.info("Suspending", ctx=job.ctx, instance=job.uuid)
        self.driver.suspend(job.uuid)
        return {"sys_meta": {**job.inst["sys_meta"], "old_vm_state": job.inst["vm_state"]}}

    def _resume(self, job: Job):
        self.log.info("Resuming", ctx=job.ctx, instance=job.uuid)
        self.driver.resume(job.uuid)
        meta = dict(job.inst["sys_meta"])
        return {"vm_state": meta.pop("old_vm_state", S.ACTIVE), "sys_meta": meta}

    def _delete(self, job: Job):
        self.log.info("Terminating instance", ctx=job.ctx, instance=job.uuid)
        return self.terminate(job.uuid, job.ctx)

    _force_delete = _delete

    def terminate(self, uuid: str, ctx: str | None) -> dict:
        self._drop_migration(uuid)
        start = time.monotonic()
        self.driver.destroy(uuid)
        self.virtlog.info("Instance destroyed successfully.", ctx=ctx, instance=uuid)
        self.log.info(f"Took {time.monotonic() - start:0.2f} seconds to destroy the instance on "
                      "the hypervisor.", ctx=ctx, instance=uuid)
        path = self.driver.files.instance_dir(uuid)
        self.virtlog.info(f"Deleting instance files {path}", ctx=ctx, instance=uuid)
        self.driver.delete_files(uuid)
        self.virtlog.info(f"Deletion of {path} complete", ctx=ctx, instance=uuid)
        start = time.monotonic()
        self.images.delete_shelved(uuid)
        self.store.release_ips(uuid)
        self.log.info(f"Took {time.monotonic() - start:0.2f} seconds to deallocate network for "
                      "instance.", ctx=ctx, instance=uuid)
        return {"vm_state": S.DELETED, "deleted_at": time.time(), "power_state": S.NOSTATE}

    # -- start-up recovery and power-state sync -----------------------------------------
    def init_host(self) -> None:
        """Nova's _init_instance: finish or undo what a previous run left half done."""
        self.store.drop_claims(self.topic)  # their owner died mid-operation
        pending = {m["payload"]["args"].get("uuid") for m in self.store.pending_messages(self.topic)}
        for inst in self.store.list_instances(self.host.name):
            if inst["task_state"] is not None and inst["uuid"] not in pending:
                try:
                    self._recover(inst)
                except Exception as e:  # noqa: BLE001 - one instance must not stop the host
                    self.log.error(f"Recovery at start-up failed: {type(e).__name__}: {e}",
                                   instance=inst["uuid"])
        for step in (self._destroy_orphans, self.sync_power_states):
            try:
                step()
            except Exception as e:  # noqa: BLE001
                self.log.error(f"{step.__name__} at start-up failed: {type(e).__name__}: {e}")

    def _recover(self, inst: dict) -> None:
        uuid, task = inst["uuid"], inst["task_state"]
        if task == S.DELETING:
            self.log.info("Instance found in task_state deleting at start-up; finishing the delete",
                          instance=uuid)
            fields = self.terminate(uuid, None)
            inst = self.store.update_instance(uuid, task_state=None, **fields)
        elif task in S.RESIZE_TASKS and self._recover_move(inst):
            inst = self.store.get_instance(uuid)
        elif task in S.BUILD_TASKS:
            self.log.warning(f"Instance failed to spawn: the service restarted during {task}",
                             instance=uuid)
            self.store.add_fault(uuid, 500, "Instance build was interrupted by a restart of the "
                                 "compute service", None, self.host.name, None)
            inst = self.store.update_instance(uuid, task_state=None, vm_state=S.ERROR)
        else:
            self.log.info(f"Instance found in task_state {task} at start-up; resetting it",
                          instance=uuid)
            inst = self.store.update_instance(uuid, task_state=None,
                                              power_state=self.driver.power_state(uuid))
        self.changed(inst)

    def _destroy_orphans(self) -> None:
        """Guests whose instance was deleted while this host was down (a local delete)."""
        for uuid in self.driver.guests():
            inst = self.store.get_instance(uuid)
            if inst is not None and inst["deleted_at"] is not None and inst["host"] == self.host.name:
                self.log.warning("Destroying instance deleted while its host was down",
                                 instance=uuid)
                self._cleanup_guest(uuid)

    def _request_self(self, action_name: str, inst: dict, host: str, reason: str, **args) -> None:
        """A periodic task asks for an action as the API would: CAS, record, cast."""
        action = ACTIONS[action_name]
        taken = self.store.begin_task(inst["uuid"], action.vm_states, action.task_states, False,
                                      action.task_state)
        if taken is None:
            return
        ctx = new_request_id()
        self.store.start_action(inst["uuid"], action.instance_action, ctx)
        self.log.info(reason, ctx=ctx, instance=inst["uuid"])
        self.bus.cast(compute_topic(host), action_name, ctx, uuid=inst["uuid"], **args)
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

    def _destroy_evacuated(self, guests: dict) -> None:
        """Guests here whose instance now lives on another host (evacuated while this host was
        down) are destroyed, so an instance never runs on two hosts."""
        for uuid in guests:
            inst = self.store.get_instance(uuid)
            if (inst is not None and inst["deleted_at"] is None and inst["host"] not in (None, self.host.name)
                    and inst["task_state"] is None and self.store.active_migration(uuid) is None):
                self.log.warning(f"Instance has been moved to {inst['host']}; deleting it from this host",
                                 instance=uuid)
                self._cleanup_guest(uuid, keep_ips=True)

    LIFECYCLE = {0: "Defined", 1: "Undefined", 2: "Started", 3: "Paused", 4: "Resumed",
                 5: "Stopped", 6: "Shutdown", 7: "PMSuspended", 8: "Crashed"}

    def _lifecycle_event(self, uuid: str, event: int) -> None:
        """On libvirt's event thread: hand the event to this service's thread."""
        self.call(self._on_lifecycle, uuid, event)

    def _on_lifecycle(self, uuid: str, event: int) -> None:
        inst = self.store.get_instance(uuid)
        if inst is None or inst["host"] != self.host.name or inst["deleted_at"] is not None:
            return
        name = self.LIFECYCLE.get(event)
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
        self._destroy_evacuated(guests)
        for inst in self.store.list_instances(self.host.name):
            if inst["task_state"] is None:
                self._sync_one(inst, guests.get(inst["uuid"], S.NOSTATE))

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
            try:
                self.changed(self.store.update_instance(inst["uuid"], expected_task_state=None,
                                                        **fields))
            except UnexpectedTaskState:
                pass  # an operation started meanwhile; it owns the state now
