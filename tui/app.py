"""The console app: thin. It talks to core only through a Client (an engine in this process,
or a novatui service over HTTP), turns the client's events into table changes and log
batches, and sends requests without ever waiting on them on the UI thread."""
from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from textual import work
from textual.app import App
from textual.css.query import NoMatches
from textual.notifications import Notification, Notify

from core.client import Client
from core.errors import NovaError
from core.events import ServiceLost, Snapshot

from .commands import ActionCommands
from .feed import Feed
from .messages import ActionDone, ClientEvents, RequestFailed
from .resting_timer import RestingTimer
from .screens.main import MainScreen
from .widgets.diff_table import DiffTable
from .widgets.split import load_prefs

LOG_FLUSH_SECONDS = 0.1
# Lines that keep coming (a script's burst) reach the panes at most this often: each write
# scrolls a pane and repaints it, and at 10 a second those paints were most of the
# console's CPU in a burst. The first lines after a calm still go within LOG_FLUSH_SECONDS.
LOG_BURST_SECONDS = 0.3
CONNECT_WAIT_SECONDS = 10.0   # for the first snapshot of an attached client
FIRST_PAINT_WAIT_SECONDS = 2.0
USER_PREFS_DIR = Path("~/.config/novatui")


def _describe(exc: BaseException) -> str:
    return exc.message if isinstance(exc, NovaError) else f"{type(exc).__name__}: {exc}"


def prefs_dir(info: dict) -> Path:
    """Where the console keeps its layout: the state dir when it is here and writable (the
    service runs on this machine), else the user's own config dir."""
    state = Path(info.get("state_dir") or "")
    if info.get("state_dir") and state.is_dir() and os.access(state, os.W_OK):
        return state
    return USER_PREFS_DIR.expanduser()


class NovaApp(App):
    CSS_PATH = "novatui.tcss"
    TITLE = "novatui"
    COMMANDS = App.COMMANDS | {ActionCommands}
    start_error: str | None = None   # why the embedded service could not start

    def __init__(self, client: Client, embedded=None) -> None:
        """embedded: the service this process runs (in_flight(), stop()), or None."""
        super().__init__()
        self.client = client
        self.embedded = embedded
        self.read_only = client.read_only
        self.info: dict = {}
        self.catalog = {"flavors": [], "images": [], "zones": []}
        self.last_request: dict[str, str] = {}
        self.feed = Feed()
        self._rung = False
        # Runs while the feed holds something (rows out of view, log lines): see _tick.
        self._ticker: RestingTimer | None = None
        self._connected = threading.Event()
        self._last_line_at: float | None = None
        self._lines_flowing = False   # the last look at the feed found lines
        self._lines_written_at = 0.0
        self._lost: str | None = None   # why the service was lost, while it is
        self._requests = ThreadPoolExecutor(1, thread_name_prefix="novatui-request")  # in order
        # On the way out, let the steps this console started reach a resting state (True)
        # or leave them queued for the next process driving their hosts (False): the quit
        # dialog's answer; True whenever it was not asked (nothing in flight, ctrl+q).
        self.settle_on_exit = True
        self._leaving = False
        self._first_painted = threading.Event()
        self._show_title()

    def _show_title(self) -> None:
        """Which inventory, and how: the service this console runs (serving), the one it is
        attached to, or an engine of its own (a read-only console with no service)."""
        prefix = "READ-ONLY · " if self.read_only else ""
        config = self.info.get("config")
        if self._lost:
            where = f"lost the service at {self.client.label} — reconnecting…"
        elif not self.client.attached:
            where = self.client.label
        elif self.embedded is not None:
            where = f"{config or ''} · serving {self.client.label}".lstrip(" ·")
        else:
            where = f"attached to {self.client.label}" + (f" ({config})" if config else "")
        self.sub_title = prefix + where

    # -- start -------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.main = MainScreen()
        # Pushed once the app's own start is over: until then Textual holds every frame
        # back (its start is one batch), so the first picture, drawn in it, would be drawn
        # again after it (70-90 ms of the start at 1,000 rows).
        self.call_later(self.push_screen, self.main)   # which calls start_up once mounted
        self.set_timer(FIRST_PAINT_WAIT_SECONDS, collector_back)  # no picture came: anyway
        self._ticker = RestingTimer(self, LOG_FLUSH_SECONDS, self._tick)
        self.set_interval(5.0, self._check_terminal)
        if not self.is_headless:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._hung_up)

    def on_unmount(self) -> None:
        self.client.unsubscribe(self._on_client_event)
        self._requests.shutdown(wait=False)

    def _first_picture_shown(self) -> None:
        self._first_painted.set()
        collector_back()

    def first_rows(self) -> bool:
        """The first picture's rows, when the client has them already (a service still
        starting gives them from one read of the store): into the tables before their
        first layout, so the first frame drawn is the full one, not an empty frame and
        then the rows (a frame of this size is 80-100 ms here)."""
        first = self.client.first_snapshot()
        if first is None:
            return False
        self.feed.put(first)
        self.on_client_events()
        return True

    @work(thread=True, group="start")
    def start_up(self, painting: bool) -> None:
        """After the first picture (painting: its rows are in, its frame is being drawn),
        what the cloud is (hosts, flavors, zones), then the events, then the history of the
        log lines: read once the stream is open, so no line falls between."""
        if painting:  # drawn before the service's threads compete with it
            self._first_painted.wait(FIRST_PAINT_WAIT_SECONDS)
        reason = self.client.started()
        if reason is not None:
            self.call_from_thread(self._cannot_start, reason)
            return
        self._read_info()
        self.client.subscribe(self._on_client_event)
        if self.client.attached:
            self._connected.wait(CONNECT_WAIT_SECONDS)
        else:  # an engine here: its events start now; the tables start from a read
            self._on_client_event(Snapshot(self.client.instances(), self.client.hosts()))
        self._read_history(None)

    def _cannot_start(self, reason: str) -> None:
        self.start_error = reason
        self.exit(return_code=1)

    @work(thread=True, group="info", exclusive=True)
    def load_info(self) -> None:
        self._read_info()

    def _read_info(self) -> None:  # on a worker
        try:
            info = self.client.info()
            images = [i for i in self.client.images() if i["status"] == "active"]
            directory = prefs_dir(info)
            self.call_from_thread(self._apply_info, info, images, directory, load_prefs(directory))
        except NovaError as e:
            self.call_from_thread(self.toast, e.message, "cannot read the cloud", "error")

    def _apply_info(self, info: dict, images: list[dict], directory: Path, prefs: dict) -> None:
        self.info = info
        self.catalog.update(flavors=info["flavors"], zones=info["zones"], images=images)
        if info.get("read_only") and not self.read_only:
            self.read_only = True
            self.main.refresh_keys()
        self._show_title()
        self.main.use_info(info, directory, prefs)

    @work(thread=True, group="history", exclusive=True)
    def load_history(self, after: float | None) -> None:
        self._read_history(after)

    def _read_history(self, after: float | None) -> None:  # on a worker
        try:
            history = self.feed.since(self.client.log_history(), after)
        except NovaError as e:
            history = []
            self.call_from_thread(self.toast, e.message, "no log history", "warning")
        self.call_from_thread(self._flush_logs, history)

    # -- client events (client threads) ------------------------------------------------
    def _on_client_event(self, event: object) -> None:
        if isinstance(event, Snapshot):
            self._connected.set()
        self._post_event(event)

    def _post_event(self, event: object) -> None:
        if self.feed.put(event):
            if not self._rung:
                self._rung = True
                self.post_message(ClientEvents())
        elif self._ticker is not None:
            self._ticker.due_from_thread()

    def on_client_events(self, _: ClientEvents | None = None) -> None:
        """Drain and coalesce: the last state of each instance and host wins."""
        self._rung = False
        changes = self.feed.drain()
        for event in changes.failed:
            self.post_message(ActionDone(event.action, event.instance_uuid, False, event.message))
        try:
            self.main.apply(list(changes.instances.values()), list(changes.hosts.values()),
                            full=changes.full)
        except NoMatches:  # the console is closing: its tables are already gone
            return
        if changes.full and not self._first_painted.is_set():
            self.call_after_refresh(self._first_picture_shown)
        for event in changes.service:
            self._service_changed(event)
        try:
            self.feed.in_view = self.main.instances.keys_in_view()
        except NoMatches:   # the screen is not composed yet, or is closing
            pass

    def _service_changed(self, event: object) -> None:
        if isinstance(event, ServiceLost):
            self._lost = event.reason
            self.feed.history_shown = False  # live lines wait for what was missed
            self.toast(f"{event.reason}\nreconnecting…", "lost the service", "error",
                       timeout=10)
        else:
            self._lost = None
            self.toast(f"reconnected to {self.client.label}", "service back")
            self.load_history(self._last_line_at)
            if not self.info:  # it was not there when the console started
                self.load_info()
        self._show_title()

    def _tick(self) -> None:
        """Rows out of view and log lines, held since the last tick. A tick that finds
        nothing rests the timer: the next held thing starts it again."""
        held = self.feed.holding
        if self.feed.events and not self._rung:
            self.on_client_events()
        self._flush_logs()
        if not held:
            self._ticker.rest(lambda: self.feed.holding)

    def on_diff_table_view_moved(self, event: DiffTable.ViewMoved) -> None:
        """The instances table's rows on screen changed (a scroll, the cursor, a mark...):
        their changes wake the console at once from now on."""
        if event.table is self.main.instances:
            self.feed.in_view = event.keys

    def _flush_logs(self, history: list | None = None) -> None:
        if history is None:
            if not self.feed.lines:
                self._lines_flowing = False
                return
            now = time.monotonic()
            if self._lines_flowing and now - self._lines_written_at < LOG_BURST_SECONDS:
                return
            self._lines_flowing, self._lines_written_at = True, now
        if self.feed.events:  # rows first: a line names its instance and host from them
            self.on_client_events()
        batch = self.feed.batch(history)
        for line in batch:
            if line.instance and line.request_id:
                self.last_request[line.instance] = line.request_id
        if batch:
            self._last_line_at = max(self._last_line_at or 0.0, batch[-1].time)
            try:
                self.main.logs.write_batch(batch)
            except NoMatches:  # the console is closing: its panes are already gone
                pass

    # -- requests (never waited on here) -----------------------------------------------
    def _submit(self, call: Callable, action: str, target: str) -> None:
        future = self._requests.submit(call)
        future.add_done_callback(lambda f: self._sent(f, action, target))

    def send(self, action: str, inst: dict, **params) -> None:
        self._submit(lambda: self.client.request(action, inst["uuid"], **params),
                     action, inst["name"])

    def launch(self, name: str, flavor: str, image: str, availability_zone: str | None) -> None:
        self._submit(lambda: self.client.create(name, flavor, image, availability_zone),
                     "create", name)

    def set_host(self, name: str, enabled: bool, reason: str | None = None) -> None:
        self._submit(lambda: self.client.set_host(name, enabled, reason),
                     "enable" if enabled else "disable", name)

    def _sent(self, future, action: str, target: str) -> None:  # on the request thread
        exc = future.exception()
        if exc is not None:
            self.post_message(RequestFailed(action, target, _describe(exc)))

    def in_flight(self) -> list[dict]:
        """What this process carries (its embedded service's work): blocking, for workers."""
        return self.embedded.in_flight() if self.embedded is not None else self.client.in_flight()

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
        that is gone (its writer blocks), so: stop the client and the embedded service (the
        operation in flight finishes, and moves in flight reach a resting state first; the
        hosts are released) and leave."""
        if self._leaving:  # the terminal check keeps asking while the service settles
            return
        self._leaving = True

        def leave():
            close(self.client, self.embedded, settle=True)
            os._exit(0)
        threading.Thread(target=leave, name="novatui-hangup").start()

    def _check_terminal(self) -> None:
        if not self.is_headless and not sys.stdin.isatty():
            self._hung_up()


def _print_waiting(rows: list[dict]) -> None:
    from core.engine import waiting_line
    print(waiting_line(rows), file=sys.stderr)


def close(client: Client, embedded, settle: bool) -> None:
    """The client first (its stream), then the service this process runs: settle: moves in
    flight reach a resting state first; otherwise the step each service is in finishes and
    queued steps wait for the next process on their hosts."""
    try:
        client.close(settle=settle, on_wait=_print_waiting)
    finally:
        if embedded is not None:
            embedded.stop(settle=settle, on_wait=_print_waiting)


def collector_back() -> None:
    """The cyclic collector on again, if core/cli.py turned it off for the start: what the
    start made (modules, widgets, the first rows) lives as long as the console, so it is
    frozen first, out of the collector's way (a frozen object is still freed when nothing
    refers to it)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def run_console(client: Client, embedded=None) -> int:
    app = NovaApp(client, embedded)
    # What is here now (the modules, mostly) lives as long as the console: out of the
    # cyclic collector's way, whose full passes would walk it all at every pass. From
    # core/cli.py the collector is off until the first picture anyway (collector_back
    # freezes what the start made then); a caller that left it on (the tests) would
    # otherwise walk it while the first picture's rows are made (a tenth of a second at
    # 5,000). Frozen objects are still freed once nothing refers to them.
    gc.freeze()
    try:
        app.run()
    finally:
        gc.unfreeze()
        close(client, embedded, app.settle_on_exit)
    if app.start_error is not None:
        print(f"novatui: {app.start_error}", file=sys.stderr)
        return 1
    return 0
