"""The conductor: for work that needs a placement, ask the scheduler, then cast to the
chosen host's compute service."""
from __future__ import annotations

import threading
from typing import Callable

from . import states as S
from .bus import CONDUCTOR, Message, MessageBus, compute_topic
from .config import Config
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
            msg = self.bus.consume(CONDUCTOR)
            if msg is None:
                continue
            try:
                self.handle(msg)
            finally:
                self.bus.done(msg)

    def handle(self, msg: Message) -> None:
        if msg.method == "build_instances":
            self.build_instances(msg)
        else:
            self.log.error(f"Unknown conductor method {msg.method!r}", ctx=msg.request_id)

    def build_instances(self, msg: Message) -> None:
        ctx, uuid, tried = msg.request_id, msg.args["uuid"], msg.args.get("tried", [])
        inst = self.store.get_instance(uuid)
        if inst is None or inst["deleted_at"] is not None or inst["task_state"] != S.SCHEDULING:
            return  # deleted while it waited
        image = self.store.get_image(inst["image_id"]) or {}
        spec = RequestSpec(uuid, inst["vcpus"], inst["memory_mb"], inst["root_gb"],
                           inst["sys_meta"].get("requested_az"), image.get("properties", {}),
                           ignore_hosts=tuple(tried))
        event = self.store.start_event(ctx, "conductor_schedule_and_build_instances", None)
        try:
            host = self.scheduler.select_destination(spec, host_states(self.config, self.store), ctx)
        except NoValidHost as e:
            self.utils_log.warning(f"Failed to compute_task_build_instances: {e.message}", ctx=ctx,
                                   instance=uuid)
            self.utils_log.warning("Setting instance to ERROR state.", ctx=ctx, instance=uuid)
            self.store.add_fault(uuid, e.code, e.message, None, None, ctx)
            try:
                inst = self.store.update_instance(uuid, expected_task_state=S.SCHEDULING,
                                                  vm_state=S.ERROR, task_state=None)
                self.notify(InstanceChanged(inst))
            except UnexpectedTaskState:
                pass
            self.store.finish_event(event, "Error", e.message)
            self.store.finish_action(ctx, error=True)
            self.notify(ActionFinished(ctx, uuid, "create", False, e.message))
            return
        try:
            inst = self.store.update_instance(uuid, expected_task_state=S.SCHEDULING, host=host.name,
                                              availability_zone=host.config.availability_zone)
        except UnexpectedTaskState:
            self.store.finish_event(event, "Error", "deleted while scheduling")
            return
        self.store.finish_event(event, "Success")
        self.notify(InstanceChanged(inst))
        self.bus.cast(compute_topic(host.name), "build_and_run_instance", ctx, uuid=uuid, tried=tried)
