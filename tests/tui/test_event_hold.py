"""Changes of instances out of view wait for the console's tick; the others wake it at once.

A script's burst changes hundreds of instances, most of them on no screen: waking the UI
thread for each batch of their changes had the console drain and apply them at every
batch. So Feed.put wakes the UI only for a change of a row in
`feed.in_view` (the rows on screen, the cursor's, the marked ones); the others stay queued
and NovaApp._tick applies them all in one go, ten times a second (LOG_FLUSH_SECONDS). A
successful ActionFinished is not even queued (the row's own change tells it); a failed one
wakes the UI and is shown. What is proved here, on the real engine and console:
 - a change out of view is held (nothing is posted, the cell keeps its old text) and is
   applied by the next tick: deferred, not lost; with the real timer, within a few ticks;
 - a change of the cursor's row, of a row on screen and of a marked row shows with no tick;
 - a successful ActionFinished queues nothing; a failed one wakes and toasts;
 - after a scroll, the repaint makes `in_view` follow (no tick): a row scrolled into view
   wakes;
 - the tick rests while nothing is held (an idle console wakes for nothing), starts again
   for the next held change or line, and rests again once they are shown.
Most tests hold the timer (LOG_FLUSH_SECONDS = 30 s before the app mounts): no tick runs
unless the test calls app._tick(), so "applied without a tick" is exact, not a race."""
from __future__ import annotations

import asyncio
import contextlib
import threading

import tui.app
from core.events import ActionFinished, InstanceChanged
from tests.conftest import launch, make_config
from tui.widgets.diff_table import SHRINK_SECONDS
from tests.tui.conftest import engine_of, open_console, select_row, until

FAKES = 60   # rows below the real one: at 80x24 most of them are off screen
FAR = 50     # a fake row far below the first screen


@contextlib.asynccontextmanager
async def crowded(tmp_path, monkeypatch, hold: bool = True):
    """The console with one real instance (the cursor's row) and FAKES copies of it below,
    everything applied and `in_view` known: (app, pilot, [uuids in row order])."""
    if hold:
        monkeypatch.setattr(tui.app, "LOG_FLUSH_SECONDS", 30.0)
    env = (make_config(tmp_path, sync=3600), tmp_path / "state")   # no power-sync events
    async with open_console(env, (80, 24)) as (app, pilot):
        table = app.main.instances
        real = await asyncio.to_thread(launch, engine_of(app), "real")
        await until(pilot, lambda: ticked(app) and table.records.get(real["uuid"], {}).get("ip"))
        base = table.records[real["uuid"]]
        fakes = [dict(base, uuid=f"{n:08x}-0000-4000-8000-000000000000", name=f"vm{n:02d}")
                 for n in range(FAKES)]
        app.main.apply(fakes, [])
        await quiet(pilot, app)   # and in_view is the laid-out table's
        yield app, pilot, [r.key.value for r in table.ordered_rows]


async def quiet(pilot, app, seconds: float = 1.0) -> None:
    """Nothing changes for `seconds`: the launch's last host views (heartbeats) are in, and
    no event of the engine's can wake the console during a test."""
    def state():
        app._tick()
        return dict(app.main.hosts.records), dict(app.main.instances.records)
    before = state()
    for _ in range(10):
        await pilot.pause(seconds)
        after = state()
        if after == before:
            return
        before = after
    raise AssertionError("the engine did not go quiet")


def ticked(app) -> bool:
    app._tick()   # what is held (the real row's creation, out of view until now) is applied
    return True


def post(app, event) -> None:
    """As the client does: from a thread of its own."""
    thread = threading.Thread(target=app._post_event, args=(event,))
    thread.start()
    thread.join()


def stopped(app, uuid: str) -> InstanceChanged:
    record = app.main.instances.records[uuid]
    return InstanceChanged(dict(record, vm_state="stopped", power_state=4,
                                updated_at=record["updated_at"] + 1))


def status(app, uuid: str) -> str:
    return app.main.instances.get_cell(uuid, "status").plain


async def test_a_change_out_of_view_waits_for_the_tick(tmp_path, monkeypatch):
    async with crowded(tmp_path, monkeypatch) as (app, pilot, rows):
        far = rows[1 + FAR]
        assert rows[1] in app.feed.in_view and far not in app.feed.in_view
        event = stopped(app, far)
        post(app, event)
        assert not app._rung and list(app.feed.events) == [event]   # queued, no wake
        await pilot.pause(0.3)                                       # three ticks' time
        assert status(app, far) == "ACTIVE" and list(app.feed.events) == [event]   # held
        app._tick()
        assert status(app, far) == "SHUTOFF" and not app.feed.events  # applied, not lost


async def test_with_the_real_timer_a_held_change_shows_within_a_few_ticks(tmp_path, monkeypatch):
    async with crowded(tmp_path, monkeypatch, hold=False) as (app, pilot, rows):
        far = rows[1 + FAR]
        post(app, stopped(app, far))
        assert not app._rung and status(app, far) == "ACTIVE"
        await until(pilot, lambda: status(app, far) == "SHUTOFF", timeout=1.0)   # 0.1 s ticks


async def test_the_cursor_s_a_shown_and_a_marked_row_show_at_once(tmp_path, monkeypatch):
    async with crowded(tmp_path, monkeypatch) as (app, pilot, rows):
        table, far = app.main.instances, rows[1 + FAR]
        select_row(app, table.records[far]["name"])
        await pilot.press("space")                       # marked; the cursor goes back up
        select_row(app, "real")
        await until(pilot, lambda: int(table.scroll_y) == 0)
        assert far in table.marked
        await until(pilot, lambda: far in app.feed.in_view)   # the repaint: no tick
        shown = (rows[0], rows[3], far)                  # the cursor's, on screen, marked
        assert set(shown) <= app.feed.in_view and rows[FAR - 5] not in app.feed.in_view
        for uuid in shown:
            post(app, stopped(app, uuid))
            assert app._rung                             # woken: ClientEvents is posted
            await until(pilot, lambda u=uuid: status(app, u) == "SHUTOFF", timeout=2.0)
            assert not app.feed.events                   # and no tick ran


async def test_a_successful_action_wakes_nothing_a_failed_one_is_shown(tmp_path, monkeypatch):
    async with crowded(tmp_path, monkeypatch) as (app, pilot, rows):
        assert not app.feed.put(ActionFinished("req-1", rows[0], "reboot", True))
        post(app, ActionFinished("req-1", rows[0], "reboot", True))
        assert not app._rung and not app.feed.events     # not even queued
        failed = ActionFinished("req-2", rows[0], "reboot", False, "the hypervisor said no")
        post(app, failed)
        assert app._rung and list(app.feed.events) == [failed]
        note = await until(pilot, lambda: next((n for n in app._notifications
                                                if n.title == "reboot real failed"), None))
        assert note.message == "the hypervisor said no" and note.severity == "error"
        assert not any("reboot" in n.title and n is not note for n in app._notifications)


async def test_after_a_scroll_the_repaint_makes_in_view_follow(tmp_path, monkeypatch):
    async with crowded(tmp_path, monkeypatch) as (app, pilot, rows):
        table, far, near = app.main.instances, rows[1 + FAR], rows[3]
        assert near in app.feed.in_view and far not in app.feed.in_view
        table.scroll_to(y=FAR - 2, animate=False)
        await until(pilot, lambda: far in app.feed.in_view)   # no tick runs (held at 30 s)
        assert near not in app.feed.in_view
        assert rows[0] in app.feed.in_view               # the cursor's row, scrolled off
        post(app, stopped(app, far))
        assert app._rung                                 # scrolled into view: wakes
        await until(pilot, lambda: status(app, far) == "SHUTOFF", timeout=2.0)
        post(app, stopped(app, near))
        assert not app._rung and status(app, near) == "ACTIVE"   # scrolled out: held


async def test_the_tick_rests_while_nothing_is_held(tmp_path, monkeypatch):
    async with crowded(tmp_path, monkeypatch, hold=False) as (app, pilot, rows):
        table, logs = app.main.instances, app.main.logs
        timers = (app._ticker, table.shrink_timer, app.main.hosts.shrink_timer, logs.scroll_watch)
        await until(pilot, lambda: not any(t.running for t in timers), timeout=3 * SHRINK_SECONDS)
        far = rows[1 + FAR]
        post(app, stopped(app, far))
        assert app._ticker.running                         # started by the held change
        await until(pilot, lambda: status(app, far) == "SHUTOFF", timeout=1.0)
        await until(pilot, lambda: not app._ticker.running, timeout=1.0)   # and rests again
