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
from .bus import Message, MessageBus, compute_topic
from .compute_build import BuildOps
from .compute_images import ImageOps
from .compute_lifecycle import LifecycleOps
from .compute_moves import MoveOps
from .compute_periodic import PeriodicOps
from .compute_recovery import RecoveryOps
from .compute_shared import CONTINUES, Job, Rollback, StaleStep
from .store_db import DBError
from .config import Config, HostConfig
from .crashpoints import crash_point
from .errors import DriverError, NovaError, UnexpectedTaskState
from .events import ActionFinished, InstanceChanged
from .images import ImageStore
from .logs import LogSink, ServiceLog
from .store import Store
from .virt import LibvirtDriver

HEARTBEAT_SECONDS = 10.0   # Nova's report_interval; a host is down after service_down_time
CLEANUPS = ("cleanup_deleted", "cleanup_evacuated")  # steps that belong to no action
RECONNECT_SECONDS = 5.0


class ComputeManager(BuildOps, LifecycleOps, ImageOps, MoveOps, RecoveryOps, PeriodicOps):
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
        self._stepping = False  # in a step: the loop runs the calls queued meanwhile after it
        # The power state a step of this service just committed, per instance, until the
        # next lifecycle event of it (PeriodicOps._on_lifecycle).
        self.committed_power: dict[str, int] = {}

    def call(self, fn: Callable, *args) -> Future:
        """Run a read-only driver call on this service's thread (callers never touch libvirt)."""
        future: Future = Future()
        self._queue_call(future, fn, args)
        return future

    def post(self, fn: Callable, *args) -> None:
        """fn on this service's thread, with no answer to wait for (a libvirt event's
        handling: a Future a request cost a burst 3 % of the service's CPU)."""
        self._queue_call(None, fn, args)

    def _queue_call(self, future: Future | None, fn: Callable, args: tuple) -> None:
        self._calls.put((future, fn, args))
        if not self._stepping:  # waking the loop would make it claim (a libvirt event: in vain)
            self.bus.wake(self.topic)

    def _run_calls(self) -> None:
        while True:
            try:
                future, fn, args = self._calls.get_nowait()
            except queue.Empty:
                return
            if future is None:
                try:
                    fn(*args)
                except Exception as e:  # noqa: BLE001 - as a call's would go to its Future
                    self.log.warning(f"{getattr(fn, '__name__', fn)} failed: "
                                     f"{type(e).__name__}: {e}")
            elif future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except Exception as e:  # noqa: BLE001 - handed to the caller
                    future.set_exception(e)

    # -- the service loop (its own thread) ---------------------------------------------
    def serve(self, stop: threading.Event) -> None:
        while not stop.is_set() and not self._connect_once():
            self.ready.set()  # down, but started: callers need not wait for it
            stop.wait(RECONNECT_SECONDS)
        if stop.is_set():
            return
        self.init_host()  # which syncs power states: the next sync is one interval away
        self._next_sync = time.monotonic() + self.config.compute.sync_power_state_interval
        self.ready.set()
        while not stop.is_set():
            try:
                msg = self.bus.consume(self.topic, self._until_periodic())
                if msg is not None:
                    self._stepping = True
                    try:
                        self._handle_once(msg)
                    finally:
                        self._stepping = False
                self._run_calls()
                self.periodic()
            except Exception as e:  # noqa: BLE001 - the service must outlive one bad step
                self.log.error(f"Unexpected error in the compute service: {type(e).__name__}: {e}")
                stop.wait(0.5)
        self.driver.close()

    def _handle_once(self, msg: Message) -> None:
        """Handle a message. A step commits its outcome and deletes its message together; if
        the store itself failed (locked, full), the message goes back to the queue to run
        again; any other escape drops it, so one bad message cannot block the host."""
        try:
            self.handle(msg)
        except DBError:
            self.store.release_claim(msg.id)
            raise
        except Exception:
            self.bus.done(msg)
            raise

    def _connect_once(self) -> bool:
        try:
            return self._connect()
        except DBError as e:  # the store, locked or full: try again later
            self.log.error(f"Compute service of {self.host.name} cannot use the store: {e}")
            return False

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

    def _until_periodic(self) -> float:
        """How long the loop may wait for a message (a cast, a call and a stop wake it):
        until its next heartbeat or power-state sync."""
        due = min(self._next_heartbeat, self._next_sync) if self.connected else self._next_heartbeat
        return max(0.0, due - time.monotonic())

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
        crash_point(f"compute.{msg.method}:start")
        if msg.method == "build_and_run_instance":
            self.build_and_run_instance(msg)
        elif msg.method in CLEANUPS:
            getattr(self, msg.method)(msg)
        else:
            self._handle_action(msg)
        crash_point(f"compute.{msg.method}:done")

    def _handle_action(self, msg: Message) -> None:
        action = ACTIONS.get(msg.args.get("action", msg.method))
        if action is None or not hasattr(self, "_" + msg.method):
            self.log.error(f"Unknown method {msg.method!r} on topic {self.topic}", ctx=msg.request_id)
            return
        self._run(msg, action)

    # -- Nova's wrappers -----------------------------------------------------------------
    def _run(self, msg: Message, action: Action) -> None:
        inst = self.store.get_instance(msg.args["uuid"])
        if inst is None or inst["deleted_at"] is not None:
            with self.store.tx():
                self.store.finish_action(msg.request_id, error=True)  # nobody waits forever
                self.bus.done(msg)
            return
        job = Job(self, msg, inst, action)
        if inst["host"] != self.host.name and "migration_id" not in msg.args:
            # queued here before the instance went elsewhere (evacuated while this host was
            # down): the request is over, and this host must not act on the instance
            self._preempted(job, None, UnexpectedTaskState(
                f"Instance {job.uuid} is on {inst['host']} now; {msg.method} on "
                f"{self.host.name} skipped"))
            return
        if inst["task_state"] == S.DELETING and action.task_state != S.DELETING:
            # Delete wins: a step queued before it must not take the instance back.
            self._preempted(job, None, UnexpectedTaskState(
                f"Instance {job.uuid} is being deleted; {msg.method} skipped"))
            return
        step = action.event if msg.method == action.name else msg.method
        event = self.store.start_event(job.ctx, f"compute_{step}", self.host.name)
        try:
            fields = getattr(self, "_" + msg.method)(job)
            if fields is CONTINUES:  # the handler handed over in its own transaction
                self.store.finish_event(event, "Success")
                return
            fields = fields or {}
            if action.end_vm_state:
                fields.setdefault("vm_state", action.end_vm_state)
            if "power_state" not in fields:
                fields["power_state"] = self.driver.power_state(job.uuid)
            crash_point(f"compute.{msg.method}:before_commit")
            with self.store.tx():  # the end state, the records and the message, together
                inst = self.store.update_instance(job.uuid, expected_task_state=job.task_state,
                                                  task_state=None, **fields)
                self.store.finish_event(event, "Success")
                self.store.finish_action(job.ctx)
                job.commit()
        except StaleStep as e:
            self._stale(job, event, e)
            return
        except UnexpectedTaskState as e:
            self._preempted(job, event, e)
            return
        except Rollback as e:
            self._fail(job, event, e.cause, **e.fields)
            return
        except Exception as e:  # noqa: BLE001 - every failure becomes a fault, as in Nova
            self._fail(job, event, e)
            return
        self.committed_power[job.uuid] = inst["power_state"]
        self.changed(inst)
        self.notify(ActionFinished(job.ctx, job.uuid, action.name, True))

    def _preempted(self, job: Job, event, exc: Exception) -> None:
        self.log.info(f"Task possibly preempted: {exc}", ctx=job.ctx, instance=job.uuid)
        with self.store.tx():
            self.store.finish_event(event, "Error", str(exc))
            self.store.finish_action(job.ctx, error=True)
            self.bus.done(job.msg)
        self._clean_if_deleted(job.uuid)
        self.notify(ActionFinished(job.ctx, job.uuid, job.action.name, False, str(exc)))

    def _stale(self, job: Job, event, exc: StaleStep) -> None:
        """Someone else already did or ended this step: leave everything as it is."""
        self.log.info(f"Step {job.msg.method} skipped: {exc}", ctx=job.ctx, instance=job.uuid)
        with self.store.tx():
            self.store.finish_event(event, "Skipped", str(exc))
            self.bus.done(job.msg)
        self._clean_if_deleted(job.uuid)

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
        inst = None
        try:
            with self.store.tx():  # fault, task_state, records and message: together
                self.store.add_fault(job.uuid, code, message, details, self.host.name, job.ctx)
                try:
                    inst = self.store.update_instance(job.uuid, expected_task_state=job.task_state,
                                                      task_state=None, power_state=power, **fields)
                except UnexpectedTaskState as e:
                    self.log.info(f"Task possibly preempted: {e}", ctx=job.ctx, instance=job.uuid)
                self.store.finish_event(event, "Error", details or message)
                self.store.finish_action(job.ctx, error=True)
                job.commit()
        except StaleStep as e:
            self._stale(job, event, e)
            return
        if inst is not None:
            self.log.info(f"Successfully reverted task state from {job.task_state} on failure "
                          "for instance.", ctx=job.ctx, instance=job.uuid)
            if vm_state == S.ERROR:
                self.log.info("Setting instance vm_state to ERROR", ctx=job.ctx, instance=job.uuid)
            self.changed(inst)
        self.notify(ActionFinished(job.ctx, job.uuid, job.action.name, False, message))

    def _took(self, job: Job, start: float, what: str) -> None:
        self.log.info(f"Took {time.monotonic() - start:0.2f} seconds to {what}.",
                      ctx=job.ctx, instance=job.uuid)
