"""The event hub's batches: a lone change goes out at once; a burst (a script's requests)
goes out at most every FLUSH_SPACING, whole and in order, so a console is woken a few
times a second rather than several times per request; an action's end goes out at once,
with what came before it."""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

from core.events import ActionFinished, LogEmitted
from core.logs import LogLine
from core.osapi import events as hub_module
from core.osapi.events import FLUSH_SPACING, EventHub


class FakeEngine:
    def subscribe(self, listener) -> None:
        self.listener = listener

    def unsubscribe(self, listener) -> None:
        pass


def line(n: int) -> LogEmitted:
    return LogEmitted(LogLine("n-api", time.time(), "INFO", "nova.compute.api", f"line {n}"))


@asynccontextmanager
async def hub_after_a_flush():
    """A hub with one stream, just after it sent a lone line (an engine thread's): the
    engine, the hub, the stream's queue and that first batch."""
    engine = FakeEngine()
    hub = EventHub(engine)
    hub.start()
    queue = hub.join()
    try:
        await in_thread(engine.listener, line(0))
        yield engine, hub, queue, await asyncio.wait_for(queue.get(), 5)
    finally:
        hub.close()


async def in_thread(fn, *args) -> None:
    await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def test_a_lone_event_goes_at_once_and_a_burst_waits_for_the_spacing():
    async def run():
        async with hub_after_a_flush() as (engine, hub, queue, first):
            first_at = hub._last_flush

            def burst():
                for n in range(1, 4):
                    engine.listener(line(n))
            await in_thread(burst)
            batches = []
            while sum(map(len, batches)) < 3:
                batches.append(await asyncio.wait_for(queue.get(), 5))
            return first, first_at, batches, hub._last_flush

    first, first_at, batches, last_at = asyncio.run(run())
    assert [i["line"]["message"] for i in first] == ["line 0"]
    assert [i["line"]["message"] for b in batches for i in b] == ["line 1", "line 2", "line 3"]
    assert len(batches) <= 2   # the burst joined its flush (a loaded machine may split it once)
    assert last_at - first_at >= FLUSH_SPACING * 0.99


def test_an_action_that_finishes_goes_out_at_once_with_what_waited_before_it(monkeypatch):
    """Right after a flush, a log line waits for the spacing (made a minute here); the
    action's end that follows it does not, and takes the line along, in order. A second
    end soon after (a burst's) keeps to the spacing as any event does."""
    monkeypatch.setattr(hub_module, "FLUSH_SPACING", 60.0)
    monkeypatch.setattr(hub_module, "URGENT_SPACING", 60.0)

    async def run():
        async with hub_after_a_flush() as (engine, _, queue, _):

            def request_ends(n: int):
                engine.listener(line(n))
                engine.listener(ActionFinished(f"req-{n}", "uuid-1", "pause", True))
            await in_thread(request_ends, 1)
            first = await asyncio.wait_for(queue.get(), 5)   # not a minute
            await in_thread(request_ends, 2)
            await asyncio.sleep(0.5)
            return first, queue.empty()

    batch, second_waits = asyncio.run(run())
    assert [i["type"] for i in batch] == ["log", "finished"]
    assert batch[0]["line"]["message"] == "line 1" and batch[1]["request_id"] == "req-1"
    assert second_waits
