"""The conductor: for work that needs a placement, ask the scheduler, then cast to the
chosen host's compute service."""
from __future__ import annotations

import threading
from typing import Callable

from . import states as S
from .bus import CONDUCTOR, IDLE_WAIT_SECONDS, Message, MessageBus, compute_topic
from .config import Config
from .crashpoints import crash_point
from .errors import NoValidHost, UnexpectedTaskState
from .events import ActionFinished, InstanceChanged
from .hosts import host_states
from .logs import LogSink, ServiceLog
from .scheduler import FilterScheduler, RequestSpec
from .store import Store


class Conductor:
    def __init__(self, config: Config, store: Store, bus: MessageBus, sink: LogSink,
                 notify: Callable[[object], None]):
        self.config, self.store, self.bus, self.notify = config, store, bus, notify
        self.log = ServiceLog(sink, "n-sch", "nova.scheduler.manager")
        self.utils_log = ServiceLog(sink, "n-sch", "nova.scheduler.utils")
        self.scheduler = FilterScheduler(config, self.log)

    def serve(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                msg = self.bus.consume(CONDUCTOR, IDLE_WAIT_SECONDS)   # a cast or a stop wakes it
                if msg is None:
                    continue
                try:
                    crash_point(f"conductor.{msg.method}:start")
                    self.handle(msg)
                    crash_point(f"conductor.{msg.method}:done")
                except Exception as e:  # noqa: BLE001 - one bad request must not stop placement
                    inst = self.store.get_instance(msg.args.get("uuid", ""))
                    if inst is not None and inst["task_state"] is not None:
                        fields = {"vm_state": S.ERROR} if msg.method == "build_instances" else {}
                        self._abort(msg, inst, e, None, **fields)
                    else:
                        self.log.error(f"{msg.method} failed: {type(e).__name__}: {e}",
                                       ctx=msg.request_id)
                finally:
                    self.bus.done(msg)  # a no-op when the step committed it
            except Exception as e:  # noqa: BLE001 - the store itself (locked, say)
                self.log.error(f"Conductor error: {type(e).__name__}: {e}")
                stop.wait(0.5)

    def handle(self, msg: Message) -> None:
        handler = getattr(self, msg.method, None) if msg.method in self.METHODS else None
        if handler is None:
            self.log.error(f"Unknown conductor method {msg.method!r}", ctx=msg.request_id)
            return
        handler(msg)

    METHODS = ("build_instances", "unshelve", "migrate", "resize", "live_migrate", "evacuate")

    # -- moves: schedule, record the migration, cast to the first compute step --------------
    def _spec(self, inst: dict, flavor=None, ignore=(), host=None, az=None) -> RequestSpec:
        """What the instance needs: its own resources, or a new flavor's for a resize, in
        the zone it was asked for at create (Nova keeps it in the request spec, and every
        move is filtered by it)."""
        image = self.store.get_image(inst["image_id"]) or {}
        az = az or inst["sys_meta"].get("requested_az")
        need = (flavor.vcpus, flavor.ram_mb, flavor.disk_gb) if flavor else \
            (inst["vcpus"], inst["memory_mb"], inst["root_gb"])
        return RequestSpec(inst["uuid"], *need, az, image.get("properties", {}),
                           ignore_hosts=tuple(ignore), force_host=host)

    def _abort(self, msg: Message, inst: dict, exc: Exception, event, **fields) -> None:
        """The move never started: task_state back to None, a fault, the action in Error."""
        message = getattr(exc, "message", str(exc))
        self.utils_log.warning(f"Failed to compute_task_{msg.method}: {message}", ctx=msg.request_id,
                               instance=inst["uuid"])
        if fields.get("vm_state") == S.ERROR:
            self.utils_log.warning("Setting instance to ERROR state.", ctx=msg.request_id,
                                   instance=inst["uuid"])
        done = None
        with self.store.tx():  # fault, task_state, records and message: together
            self.store.add_fault(inst["uuid"], getattr(exc, "code", 500), message, None, None,
                                 msg.request_id)
            try:
                done = self.store.update_instance(inst["uuid"], expected_task_state=inst["task_state"],
                                                  task_state=None, **fields)
            except UnexpectedTaskState:
                pass
            self.store.finish_event(event, "Error", message)
            self.store.finish_action(msg.request_id, error=True)
            self.bus.done(msg)
        if done is not None:
            self.notify(InstanceChanged(done))
        action = "create" if msg.method == "build_instances" else msg.method
        self.notify(ActionFinished(msg.request_id, inst["uuid"], action, False, message))

    def _live(self, msg: Message) -> dict | None:
        inst = self.store.get_instance(msg.args["uuid"])
        if inst is None or inst["deleted_at"] is not None or inst["task_state"] is None:
            self.store.finish_action(msg.request_id, error=True)  # nobody waits forever
            return None
        return inst

    def _move(self, msg: Message, kind: str, flavor_name: str | None, step: str,
              allow_same_host: bool = False, on_fail: dict | None = None) -> None:
        inst = self._live(msg)
        if inst is None:
            return
        event = self.store.start_event(msg.request_id, f"conductor_{msg.method}_server", None)
        old = self.config.flavor(inst["flavor"])
        new = self.config.flavor(flavor_name) if flavor_name else old
        ignore = () if allow_same_host else (inst["host"],)
        try:
            dest = self.scheduler.select_destination(
                self._spec(inst, new, ignore, msg.args.get("host")),
                host_states(self.config, self.store), msg.request_id)
        except NoValidHost:
            what = {"migration": "cold migrate", "resize": "resize",
                    "live-migration": "live migrate", "evacuation": "evacuate"}[kind]
            self._abort(msg, inst, NoValidHost(f"No valid host found for {what}"), event,
                        **(on_fail or {}))
            return
        live = kind == "live-migration"
        first_host = inst["host"] if live else dest.name
        try:
            with self.store.tx():  # the migration, the instance and the first step: together
                if kind == "evacuation":  # whatever move the dead host was in is over
                    earlier = self.store.active_migration(inst["uuid"])
                    if earlier is not None:
                        self.store.update_migration(earlier["id"], status="error", held_host=None)
                mig = self.store.create_migration({
                    "instance_uuid": inst["uuid"], "migration_type": kind,
                    "source_host": inst["host"], "dest_host": dest.name, "old_flavor": old.name,
                    "new_flavor": new.name, "status": "accepted" if live else "pre-migrating",
                    "held_host": dest.name, "held_vcpus": new.vcpus, "held_memory_mb": new.ram_mb,
                    "held_root_gb": new.disk_gb, "request_id": msg.request_id})
                taken = self.store.update_instance(
                    inst["uuid"], expected_task_state=inst["task_state"],
                    **({"host": dest.name, "availability_zone": dest.config.availability_zone}
                       if kind == "evacuation" else {"task_state": inst["task_state"]}))
                self.store.finish_event(event, "Success")
                self.bus.cast(compute_topic(first_host), step, msg.request_id, uuid=inst["uuid"],
                              action=msg.method, migration_id=mig)
                self.bus.done(msg)
        except UnexpectedTaskState:
            return  # deleted meanwhile: the delete ends the action
        self.notify(InstanceChanged(taken))

    def migrate(self, msg: Message) -> None:
        self._move(msg, "migration", None, "prep_resize")

    def resize(self, msg: Message) -> None:
        self._move(msg, "resize", msg.args["flavor"], "prep_resize",
                   allow_same_host=self.config.scheduler.allow_resize_to_same_host)

    def live_migrate(self, msg: Message) -> None:
        self._move(msg, "live-migration", None, "live_migration")

    def evacuate(self, msg: Message) -> None:
        self._move(msg, "evacuation", None, "evacuate", on_fail={"vm_state": S.ERROR})

    def unshelve(self, msg: Message) -> None:
        """Shelved on a host: power on there. Offloaded: place it, then spawn."""
        inst = self._live(msg)
        if inst is None:
            return
        if inst["host"] is not None:
            with self.store.tx():
                self.bus.cast(compute_topic(inst["host"]), "unshelve", msg.request_id,
                              uuid=inst["uuid"])
                self.bus.done(msg)
            return
        event = self.store.start_event(msg.request_id, "conductor_unshelve_instance", None)
        try:
            dest = self.scheduler.select_destination(
                self._spec(inst, az=msg.args.get("availability_zone")),
                host_states(self.config, self.store), msg.request_id)
            with self.store.tx():
                taken = self.store.update_instance(inst["uuid"], expected_task_state=S.UNSHELVING,
                                                   host=dest.name,
                                                   availability_zone=dest.config.availability_zone)
                self.store.finish_event(event, "Success")
                self.bus.cast(compute_topic(dest.name), "unshelve", msg.request_id,
                              uuid=inst["uuid"])
                self.bus.done(msg)
        except NoValidHost as e:
            self._abort(msg, inst, e, event)
            return
        except UnexpectedTaskState:
            return
        self.notify(InstanceChanged(taken))

    def build_instances(self, msg: Message) -> None:
        ctx, uuid, tried = msg.request_id, msg.args["uuid"], msg.args.get("tried", [])
        inst = self.store.get_instance(uuid)
        if inst is None or inst["deleted_at"] is not None or inst["task_state"] != S.SCHEDULING:
            return  # deleted while it waited
        spec = self._spec(inst, ignore=tried)
        event = self.store.start_event(ctx, "conductor_schedule_and_build_instances", None)
        try:
            host = self.scheduler.select_destination(spec, host_states(self.config, self.store), ctx)
        except NoValidHost as e:
            self._abort(msg, inst, e, event, vm_state=S.ERROR)
            return
        try:
            with self.store.tx():  # the placement and the build's cast: together
                inst = self.store.update_instance(uuid, expected_task_state=S.SCHEDULING,
                                                  host=host.name,
                                                  availability_zone=host.config.availability_zone)
                self.store.finish_event(event, "Success")
                self.bus.cast(compute_topic(host.name), "build_and_run_instance", ctx, uuid=uuid,
                              tried=tried)
                self.bus.done(msg)
        except UnexpectedTaskState:
            self.store.finish_event(event, "Error", "deleted while scheduling")
            return
        self.notify(InstanceChanged(inst))
