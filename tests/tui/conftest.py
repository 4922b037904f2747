"""Console fixtures: the console built the way the product builds it (an engine on
simulated hosts, the service this process runs around it, and an HTTP client over its Unix
socket), plus a frozen world (clock, ids, pid, paths) so that snapshots are the same on
every run."""
from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import time
import uuid
from pathlib import Path

import pytest

import core.api
import core.compute
import core.compute_build
import core.compute_images
import core.compute_lifecycle
import core.compute_periodic
import core.compute_shared
import core.hosts
import core.images
import core.logs
import core.osapi.app
import core.store
import tui.widgets.instances_table
from core.cli import embed
from core.client import LocalClient
from core.engine import Engine
from tests.conftest import make_config
from tui.app import NovaApp

FROZEN_AT = 1793520000.0  # 2026-11-01 00:00:00 UTC
SNAP_ROOT = Path("/tmp/novatui-snapshots")


class FrozenTime:
    """Stands in for the `time` module inside novatui's modules: the clock stands still."""

    def __getattr__(self, name):
        return getattr(time, name)

    @staticmethod
    def time() -> float:
        return FROZEN_AT

    @staticmethod
    def monotonic() -> float:
        return 1000.0


@pytest.fixture
def frozen(monkeypatch):
    fake = FrozenTime()
    for module in (core.api, core.compute, core.compute_build, core.compute_lifecycle,
                   core.compute_images, core.compute_periodic, core.compute_shared, core.hosts,
                   core.images, core.logs, core.osapi.app, core.store,
                   tui.widgets.instances_table):
        monkeypatch.setattr(module, "time", fake)
    rng = random.Random(42)

    class Ids:
        uuid5 = staticmethod(uuid.uuid5)  # configured images' ids are derived, not drawn
        UUID = uuid.UUID

        @staticmethod
        def uuid4():
            return uuid.UUID(int=rng.getrandbits(128), version=4)

    monkeypatch.setattr(core.api, "uuidlib", Ids)
    monkeypatch.setattr(core.images, "uuidlib", Ids)
    monkeypatch.setattr(core.osapi.app, "uuidlib", Ids)   # the HTTP requests' ids
    monkeypatch.setattr(core.logs, "PID", 4321)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    shutil.rmtree(SNAP_ROOT, ignore_errors=True)
    SNAP_ROOT.mkdir(parents=True)
    yield SNAP_ROOT
    shutil.rmtree(SNAP_ROOT, ignore_errors=True)


@pytest.fixture
def console_env(tmp_path):
    """(config, state_dir) in a temporary place, for Pilot tests."""
    return make_config(tmp_path), tmp_path / "state"


@pytest.fixture
def snap_env(frozen):
    """(config, state_dir) at fixed paths, for snapshots. No periodic power sync and no
    lifecycle events: their lines would land among the scenario's in any order."""
    return make_config(frozen, sync=3600, replace={"handle_lifecycle_events = true": "handle_lifecycle_events = false"}), frozen / "state"


def start_engine(env, **kw) -> Engine:
    config, state_dir = env
    return Engine(config, state_dir, **kw).start()


def quiet_start(engine: Engine) -> None:
    """The compute services start on their own threads, so their first lines come in any
    order; snapshots begin after them."""
    for f in (engine.state_dir / "logs").glob("*.log"):
        f.write_text("")


def attached_console(engine: Engine) -> NovaApp:
    """The console of a writable engine, as `novatui` with no service running makes it: the
    engine served on the state dir's socket by this process, the console its HTTP client."""
    return NovaApp(*embed(engine))


def read_only_console(engine: Engine) -> NovaApp:
    """A read-only console with no service: it watches the store the others write."""
    return NovaApp(LocalClient(engine, poll=True))


def engine_of(app: NovaApp) -> Engine:
    """The engine the console's service runs (the test drives it directly)."""
    return app.embedded.engine if app.embedded is not None else app.client.engine


def close_console(app: NovaApp) -> None:
    """What run_console does on the way out: the client, then the service (it settles)."""
    app.client.close()
    if app.embedded is not None:
        app.embedded.stop()


async def ready(pilot, app: NovaApp) -> None:
    """The console has its first snapshot and its log history."""
    await until(pilot, lambda: app.feed.history_shown and app.main.hosts.row_count)


async def until(pilot, predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        value = predicate()
        if value:
            return value
    raise AssertionError("condition not met in time")


def rows_as_engine_has_them(app: NovaApp, count: int = 1) -> bool:
    """The instances table has `count` rows, each in the state the engine has it in now: a
    row's last change may reach the console a tick after the row itself (a change to a row
    not yet on screen waits for the tick), so a row alone does not say its state."""
    table = app.main.instances
    if table.row_count != count:
        return False
    for inst in engine_of(app).instances():
        shown = table.records.get(inst["uuid"]) or {}
        if (shown.get("vm_state"), shown.get("task_state")) != (inst["vm_state"], inst["task_state"]):
            return False
    return True


async def settle(pilot, app: NovaApp) -> None:
    """Let engine threads finish and the UI drain every event and log batch."""
    engine = engine_of(app)
    for _ in range(200):
        busy = any(i["task_state"] for i in engine.instances()) or engine.store.pending_messages()
        if not busy and not app.feed.events and not app.feed.lines:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.25)
    await asyncio.sleep(0)


SIZES = [(80, 24), (120, 40)]


@contextlib.asynccontextmanager
async def open_console(console_env, size):
    """The console on the simulated hosts, at this terminal size: (app, pilot)."""
    app = attached_console(start_engine(console_env))
    try:
        async with app.run_test(size=size) as pilot:
            await ready(pilot, app)
            yield app, pilot
    finally:
        close_console(app)


@pytest.fixture(params=SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def console(request, console_env):
    """At 80x24 and at 120x40 (a module may override it with one size of its own)."""
    async with open_console(console_env, request.param) as opened:
        yield opened


def select_row(app, name: str) -> None:
    """Put the instances table's cursor on the named instance, and focus it."""
    table = app.main.instances
    uuid = next(k for k, r in table.records.items() if r["name"] == name)
    table.move_cursor(row=table.get_row_index(uuid))
    table.focus()
