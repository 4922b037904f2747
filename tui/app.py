"""The console app: thin. It owns the engine handle, turns engine events into messages and
batches, and sends requests without ever waiting on the engine."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections import deque
from pathlib import Path

from textual import work
from textual.app import App
from textual.notifications import Notification, Notify

from core.config import Config
from core.engine import Engine, waiting_line
from core.errors import NovaError
from core.events import ActionFinished, HostChanged, InstanceChanged, LogEmitted
from core.logs import read_tail

from .commands import ActionCommands
from .messages import ActionDone, EngineEvents, RequestFailed
from .screens.main import MainScreen

LOG_FLUSH_SECONDS = 0.1
HOST_REFRESH_SECONDS = 5.0
STORE_POLL_SECONDS = 1.0


class NovaApp(App):
    CSS_PATH = "novatui.tcss"
    TITLE = "novatui"
    COMMANDS = App.COMMANDS | {ActionCommands}

    def __init__(self, engine: Engine, read_only: bool = False) -> None:
        super().__init__()
        self.engine = engine
        self.read_only = read_only
        self.sub_title = ("READ-ONLY · " if read_only else "") + str(engine.config.path)
        self._events: deque = deque()
        self._log_lines: deque = deque()
        self._rung = False
        self._history_shown = False
        self._polled_at = time.time()
        self.last_request: dict[str, str] = {}
        # On the way out, let the steps this console started reach a resting state (True)
        # or leave them queued for the next process driving their hosts (False): the quit
        # dialog's answer; True whenever it was not asked (nothing in flight, ctrl+q).
        self.settle_on_exit = True
        self._leaving = False
        config = engine.config
        self.catalog = {
            "flavors": [{"name": f.name, "vcpus": f.vcpus, "ram_mb": f.ram_mb, "disk_gb": f.disk_gb}
                        for f in config.flavors.values()],
            "images": [], "zones": sorted({h.availability_zone for h in config.hosts})}

    # -- start -------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.main = MainScreen()
        self.push_screen(self.main)
        self._subscribed_at = time.time()
        self.engine.subscribe(self._on_engine_event)
        self.load_snapshot()
        self.set_interval(LOG_FLUSH_SECONDS, self._flush_logs)
        self.set_interval(HOST_REFRESH_SECONDS, self.refresh_hosts)
        self.set_interval(STORE_POLL_SECONDS, self.poll_store)
        self.set_interval(5.0, self._check_terminal)
        if not self.is_headless:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._hung_up)

    def on_unmount(self) -> None:
        self.engine.unsubscribe(self._on_engine_event)

    @work(thread=True, group="store")
    def load_snapshot(self) -> None:
        history = read_tail(self.engine.sink.log_dir)
        self._polled_at = time.time()
        instances, hosts = self.engine.instances(), self.engine.hosts()
        self.catalog["images"] = [i for i in self.engine.images.list() if i["status"] == "active"]
        self.call_from_thread(self.main.apply, instances, hosts)
        self.call_from_thread(self._show_history, history)

    def _show_history(self, history: list) -> None:
        """Lines written before we subscribed come from the files; later ones are queued."""
        self._flush_logs(history=[ln for ln in history if ln.time < self._subscribed_at])
        self._history_shown = True

    @work(thread=True, group="poll", exclusive=True)
    def poll_store(self) -> None:
        """Changes made by other processes sharing the store (a script's request, another
        console's hosts) come without events: pick them up here."""
        changed = self.engine.store.changed_since(self._polled_at)
        if changed:
            self._polled_at = max(i["updated_at"] for i in changed)
            self.call_from_thread(self.main.apply, changed, [])

    @work(thread=True, group="store", exclusive=True)
    def refresh_hosts(self) -> None:
        """Heartbeats age without events: a host that stops answering turns down here."""
        hosts = self.engine.hosts()
        self.call_from_thread(self.main.apply, [], hosts)

    # -- engine events (engine threads) ------------------------------------------------
    def _on_engine_event(self, event: object) -> None:
        if isinstance(event, LogEmitted):
            self._log_lines.append(event.line)
            return
        self._events.append(event)
        if not self._rung:
            self._rung = True
            self.post_message(EngineEvents())

    def on_engine_events(self, _: EngineEvents) -> None:
        """Drain and coalesce: the last state of each instance and host wins."""
        self._rung = False
        instances: dict[str, dict] = {}
        hosts: dict[str, dict] = {}
        while self._events:
            event = self._events.popleft()
            if isinstance(event, InstanceChanged):
                instances[event.instance["uuid"]] = event.instance
            elif isinstance(event, HostChanged):
                hosts[event.host["name"]] = event.host
            elif isinstance(event, ActionFinished) and not event.ok:
                self.post_message(ActionDone(event.action, event.instance_uuid, False, event.message))
        self.main.apply(list(instances.values()), list(hosts.values()))

    def _flush_logs(self, history: list | None = None) -> None:
        if not self._history_shown and history is None:
            return
        batch = list(history or [])
        while self._log_lines:
            batch.append(self._log_lines.popleft())
        for line in batch:
            if line.instance and line.request_id:
                self.last_request[line.instance] = line.request_id
        if batch:
            self.main.logs.write_batch(batch)

    # -- requests (never waited on here) -----------------------------------------------
    def send(self, action: str, inst: dict, **params) -> None:
        future = self.engine.submit(self.engine.api.perform, action, inst["uuid"], **params)
        future.add_done_callback(lambda f: self._sent(f, action, inst["name"]))

    def launch(self, name: str, flavor: str, image: str, availability_zone: str | None) -> None:
        future = self.engine.submit(self.engine.api.create, name, flavor, image, availability_zone)
        future.add_done_callback(lambda f: self._sent(f, "create", name))

    def _sent(self, future, action: str, target: str) -> None:  # on the API thread
        exc = future.exception()
        if exc is not None:
            reason = exc.message if isinstance(exc, NovaError) else f"{type(exc).__name__}: {exc}"
            self.post_message(RequestFailed(action, target, reason))

    def set_host(self, name: str, enabled: bool, reason: str | None = None) -> None:
        future = self.engine.submit(self.engine.api.set_host, name, enabled, reason)
        future.add_done_callback(lambda f: self._sent(f, "enable" if enabled else "disable", name))

    def on_request_failed(self, msg: RequestFailed) -> None:
        self.toast(msg.reason, f"{msg.action} {msg.target}: refused", "error")

    def on_action_done(self, msg: ActionDone) -> None:
        inst = self.main.instances.records.get(msg.target)
        name = inst["name"] if inst else msg.target
        self.toast(msg.reason or "failed", f"{msg.action} {name} failed", "error", timeout=10)

    def toast(self, message: str, title: str = "", severity: str = "information",
              replace: Notification | None = None, timeout: float | None = None) -> Notification:
        """A notification that does not pile up: it replaces `replace` (the console's last
        hint) and any shown one with the same title and message."""
        for old in list(self._notifications):
            if old is replace or (old.title == title and old.message == message):
                self._unnotify(old, refresh=False)
        note = Notification(message, title, severity,
                            self.NOTIFICATION_TIMEOUT if timeout is None else timeout)
        self.post_message(Notify(note))
        return note

    # -- leaving -----------------------------------------------------------------------
    def quit_console(self, settle: bool) -> None:
        self.settle_on_exit = settle
        self.exit()

    def _hung_up(self) -> None:
        """The terminal hung up (an SSH session dropped). Textual cannot restore a terminal
        that is gone (its writer blocks), so: stop the engine (the operation in flight
        finishes, and moves in flight reach a resting state first; the hosts are released)
        and leave."""
        if self._leaving:  # the terminal check keeps asking while the engine settles
            return
        self._leaving = True

        def leave():
            self.engine.stop()  # settle=True by default
            os._exit(0)
        threading.Thread(target=leave, name="novatui-hangup").start()

    def _check_terminal(self) -> None:
        if not self.is_headless and not sys.stdin.isatty():
            self._hung_up()


def run_console(config: Config, state_dir: Path, read_only: bool = False) -> int:
    # A read-only console drives no host (it changes nothing, not even by a power sync): it
    # watches the store that the consoles and scripts driving the hosts write.
    engine = Engine(config, state_dir, read_only=read_only, own="none" if read_only else "all")
    engine.start(ready_timeout=0)  # hosts come up in the background; rows follow
    app = NovaApp(engine, read_only)
    try:
        app.run()
    finally:
        # settle: moves in flight reach a resting state first; otherwise the step each
        # service is in finishes and queued steps wait for the next process on their hosts.
        engine.stop(settle=app.settle_on_exit,
                    on_wait=lambda rows: print(waiting_line(rows), file=sys.stderr))
    return 0
