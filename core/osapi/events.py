"""The event stream an attached console reads (GET /novatui/events, Server-Sent Events):
a snapshot of every instance and host, then batches of what changed and every log line
of every request, whichever client made it. A host whose heartbeat ages out changes without
an engine event: the hub looks at the hosts once a second and sends what differs."""
from __future__ import annotations

import asyncio
import json
import time
from collections import deque

from aiohttp import web

from ..events import ActionFinished, HostChanged, event_to_dict
from .common import ENGINE, off_loop

KEEPALIVE_SECONDS = 15.0
HOST_LOOK_SECONDS = 1.0
FULL_LOOK_SECONDS = 30.0
MAX_QUEUED_BATCHES = 5000   # a client that reads slower than this is dropped; it reconnects
# Batches go out at most this often: a burst of requests (a script's) costs a few wakeups of
# the loop and a few messages a second, not several per request; a lone change goes at once.
FLUSH_SPACING = 0.005
URGENT_SPACING = 0.05   # an action's end goes at once at most this often
KEEPALIVE = "keepalive"   # queued for a stream that has had nothing to send for a while


def sse(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class EventHub:
    """Engine events (from engine threads) to every stream, in batches: whatever arrived
    while the loop was busy goes out as one message."""

    def __init__(self, engine):
        self.engine = engine
        self.loop: asyncio.AbstractEventLoop | None = None
        self._host_watch: asyncio.Task | None = None
        self.streams: set[asyncio.Queue] = set()
        self._pending: deque = deque()
        self._scheduled = False
        self._urgent = False   # a flush at once is on its way
        self._last_urgent = 0.0
        self._last_flush = 0.0
        self._hosts: dict[str, dict] = {}
        self._host_seq: dict[str, int] = {}   # engine events per host: they beat a look
        self.finished: asyncio.Event | None = None  # set and replaced as actions finish
        self.closed = False

    def start(self) -> None:
        """On the service's loop, when the app starts."""
        self.loop = asyncio.get_running_loop()
        self.finished = asyncio.Event()
        self.engine.subscribe(self._on_event)
        self._host_watch = asyncio.create_task(self.watch_hosts())

    # engine threads
    def _on_event(self, event: object) -> None:
        if not self.streams and not isinstance(event, (ActionFinished, HostChanged)):
            return  # nobody to send it to (a stream that joins starts from a snapshot)
        item = event_to_dict(event)
        if item is None or self.closed:
            return
        if item["type"] == "host":
            name = item["host"]["name"]
            self._hosts[name] = item["host"]
            self._host_seq[name] = self._host_seq.get(name, 0) + 1
        self._pending.append(item)
        # An action's end (its instance's resting state just before it) goes at once when
        # no other end did in the last URGENT_SPACING: a console's key or a CLI's wait is
        # waiting for it, and the spacing after the request's own log lines held it back 3
        # ms of the 8 from a key to its event. In a burst, ends keep to the spacing (a flush
        # at every end cost the service and the console 8 % more CPU a request).
        if item["type"] == "finished" and time.monotonic() - self._last_urgent >= URGENT_SPACING:
            self._last_urgent = time.monotonic()
            if not self._urgent:
                self._urgent = True
                self._call_soon(self._flush)
        elif not self._scheduled and not self._urgent:
            self._scheduled = True
            self._call_soon(self._flush_soon)

    def _call_soon(self, callback) -> None:
        try:
            self.loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop closed under us: the service is stopping
            pass

    # the loop
    def _flush_soon(self) -> None:
        """Now, or FLUSH_SPACING after the last flush: what arrives meanwhile joins it."""
        wait = self._last_flush + FLUSH_SPACING - self.loop.time()
        if wait > 0:
            self.loop.call_later(wait, self._flush)
        else:
            self._flush()

    def _flush(self) -> None:
        self._scheduled = self._urgent = False
        self._last_flush = self.loop.time()
        batch = []
        while self._pending:
            batch.append(self._pending.popleft())
        if any(i["type"] == "finished" for i in batch):
            self.finished.set()
            self.finished = asyncio.Event()
        if batch:
            self.publish(batch)

    def publish(self, batch: list[dict]) -> None:
        for queue in list(self.streams):
            if queue.qsize() >= MAX_QUEUED_BATCHES:
                self.streams.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(batch)

    async def watch_hosts(self) -> None:
        """Heartbeats age without events: send a host whose view changed. Every second
        the hosts' up/down is read from their service rows alone; the whole views (usage
        summed over every instance) only when one of them changed, or every
        FULL_LOOK_SECONDS as a safety net."""
        last_full = 0.0
        while not self.closed:
            await asyncio.sleep(HOST_LOOK_SECONDS)
            if not self.streams:
                continue
            if time.monotonic() - last_full < FULL_LOOK_SECONDS:
                states = await off_loop(self.engine.host_liveness)
                if all(self._hosts.get(name, {}).get("state") == state
                       for name, state in states.items()):
                    continue
            last_full = time.monotonic()
            seq = dict(self._host_seq)
            views = await off_loop(self.engine.hosts)
            # a host an engine event told of while we read is fresher than what we read
            views = [v for v in views if self._host_seq.get(v["name"]) == seq.get(v["name"])]
            changed = [v for v in views if self._hosts.get(v["name"], {}) | {"heartbeat": None}
                       != v | {"heartbeat": None}]
            for v in views:
                self._hosts[v["name"]] = v
            if changed:
                self.publish([{"type": "host", "host": v} for v in changed])

    def join(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self.streams.add(queue)
        return queue

    def leave(self, queue: asyncio.Queue) -> None:
        self.streams.discard(queue)

    def close(self) -> None:
        self.closed = True
        self.engine.unsubscribe(self._on_event)
        if self.finished is not None:
            self.finished.set()   # long polls see `closed` and end
        if self._host_watch is not None:
            self._host_watch.cancel()
        for queue in list(self.streams):
            queue.put_nowait(None)
        self.streams.clear()


HUB: web.AppKey[EventHub] = web.AppKey("hub", EventHub)


async def stream(request: web.Request) -> web.StreamResponse:
    hub, engine = request.app[HUB], request.app[ENGINE]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    queue = hub.join()
    # A comment now and then keeps proxies and the client's read timeout from ending a
    # quiet stream; a task of its own, so that each batch is a plain get() (wait_for's
    # task and timer at every batch were a tenth of the stream's CPU in a burst).
    keepalive = asyncio.create_task(_keepalives(queue))
    try:
        snapshot = await off_loop(lambda: {"instances": engine.instances(),
                                           "hosts": engine.hosts()})
        await response.write(sse("snapshot", snapshot))
        while True:
            batch = await queue.get()
            if batch is KEEPALIVE:
                await response.write(b": keepalive\n\n")
                continue
            while batch is not None and not queue.empty():
                more = queue.get_nowait()
                if more is not KEEPALIVE:
                    batch = None if more is None else batch + more
            if batch is None:
                # The service stops, or this client fell too far behind: end the stream.
                # The client reconnects and starts again from a snapshot (and fetches the
                # log lines it missed), so what was queued for it is not worth sending.
                response.force_close()
                break
            await response.write(sse("batch", batch))
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        keepalive.cancel()
        hub.leave(queue)
    return response


async def _keepalives(queue: asyncio.Queue) -> None:
    while True:
        await asyncio.sleep(KEEPALIVE_SECONDS)
        if queue.empty():
            queue.put_nowait(KEEPALIVE)


async def _start_hub(app: web.Application) -> None:
    app[HUB].start()


async def _stop_hub(app: web.Application) -> None:
    app[HUB].close()


def setup(app: web.Application) -> None:
    app[HUB] = EventHub(app[ENGINE])
    app.router.add_get("/novatui/events", stream)
    app.on_startup.append(_start_hub)
    app.on_shutdown.append(_stop_hub)
