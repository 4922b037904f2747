"""SVG snapshots of the real console on simulated hosts, with the clock and ids frozen."""
from __future__ import annotations

import pytest
from textual.widgets import Input

from tests.conftest import act, domain, launch
from tests.tui.conftest import (attached_console, close_console, engine_of, quiet_start,
                                read_only_console, ready, settle, start_engine)


def populate(engine) -> None:
    """Instances in several states, one of them in ERROR with a fault, one locked."""
    launch(engine, "web1")
    launch(engine, "web2", "m1.small", az="az1")
    act(engine, "pause", launch(engine, "batch1", "m1.medium")["uuid"])
    act(engine, "suspend", launch(engine, "batch2", "m1.small", az="az1")["uuid"])
    act(engine, "stop", launch(engine, "db1", "m1.large")["uuid"])
    act(engine, "lock", "db1")
    broken = launch(engine, "broken", "m1.tiny", image="debian-12")
    domain(engine, broken).destroy()
    engine.wait(engine.request("suspend", "broken"))


@pytest.fixture
def snap_app(snap_env):
    apps = []

    def make(read_only=False, populated=True):
        engine = start_engine(snap_env)
        quiet_start(engine)
        if populated:
            populate(engine)
        if read_only:
            engine.stop()
            app = read_only_console(start_engine(snap_env, read_only=True, own="none"))
        else:
            app = attached_console(engine)
        apps.append(app)
        return app
    yield make
    for app in apps:
        close_console(app)


async def _ready(pilot):
    await ready(pilot, pilot.app)
    await settle(pilot, pilot.app)
    table = pilot.app.main.instances
    table.move_cursor(row=0)
    await pilot.pause(0.1)


def test_main_screen(snap_compare, snap_app):
    assert snap_compare(snap_app(), terminal_size=(140, 42), run_before=_ready)


def test_main_screen_80x24(snap_compare, snap_app):
    assert snap_compare(snap_app(), terminal_size=(80, 24), run_before=_ready)


def pressing(*keys: str, pause: float = 0.3):
    """run_before for a snapshot: the scenario ready, then these keys. An input's cursor
    stops blinking: on a loaded machine the picture was taken in either phase."""
    async def run(pilot):
        await _ready(pilot)
        await pilot.press(*keys)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause(pause)
    return run


def test_launch_dialog(snap_compare, snap_app):
    assert snap_compare(snap_app(), terminal_size=(120, 36), run_before=pressing("n", *"web3"))


def test_terminate_confirmation(snap_compare, snap_app):
    assert snap_compare(snap_app(), terminal_size=(120, 36), run_before=pressing("d"))


def test_detail_screen(snap_compare, snap_app):
    async def run(pilot):
        await _ready(pilot)
        table = pilot.app.main.instances
        table.move_cursor(row=table.get_row_index(engine_of(pilot.app).instance("broken")["uuid"]))
        await pilot.press("enter")
        await pilot.pause(0.5)
    assert snap_compare(snap_app(), terminal_size=(120, 36), run_before=run)


def test_help_screen(snap_compare, snap_app):
    assert snap_compare(snap_app(populated=False), terminal_size=(120, 40),
                        run_before=pressing("question_mark"))


def test_read_only(snap_compare, snap_app):
    assert snap_compare(snap_app(read_only=True), terminal_size=(120, 36), run_before=pressing("p"))


def test_resize_dialog(snap_compare, snap_app):
    assert snap_compare(snap_app(), terminal_size=(120, 36), run_before=pressing("e"))


def test_quit_with_a_move_in_flight(snap_compare, snap_app):
    carrying: list[dict] = []

    async def run(pilot):
        engine = engine_of(pilot.app)
        moving = [engine.instance("web1"), engine.instance("web2")]
        carrying.extend(  # a simulated move is over before `q` could be pressed
            {"uuid": i["uuid"], "name": i["name"], "action": action, "task_state": state,
             "host": i["host"]}
            for i, action, state in zip(moving, ("migrate", "resize"),
                                        ("resize_migrating", "resize_finish")))
        engine.in_flight = lambda: list(carrying)
        await pressing("q", pause=0.6)(pilot)
    matched = snap_compare(snap_app(), terminal_size=(120, 36), run_before=run)
    carrying.clear()  # the engine settles when it stops: nothing is left to wait for
    assert matched
