"""`q` with a move in flight: the console says what is still running and asks whether to wait
for it to reach a resting state or to leave its queued steps to the next process; run_console
closes the client and stops the service this process runs accordingly."""
from __future__ import annotations

import threading

import pytest

import tui.app
from core.engine import Engine
from tests.conftest import launch
from tests.tui.conftest import (attached_console, close_console, engine_of, read_only_console,
                                until)
from tui.app import NovaApp, run_console


class Carrying(Engine):
    """The real engine on simulated hosts, except that what it carries is what the test says
    (a simulated migration is over before a key can be pressed). It notes the threads that
    ask: the store is never read on the UI thread."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.carrying: list[dict] = []
        self.asked_on: set[str] = set()

    def in_flight(self) -> list[dict]:
        self.asked_on.add(threading.current_thread().name)
        return list(self.carrying)


@pytest.fixture
async def console(console_env):
    config, state_dir = console_env
    engine = Carrying(config, state_dir).start()
    inst = launch(engine, "mover")
    engine.carrying = [{"uuid": inst["uuid"], "name": "mover", "action": "migrate",
                        "task_state": "resize_migrating", "host": inst["host"]}]
    app = attached_console(engine)
    async with app.run_test(size=(140, 45)) as pilot:
        await until(pilot, lambda: app.main.instances.row_count == 1)
        yield app, pilot
    assert threading.main_thread().name not in engine.asked_on
    engine.carrying = []  # stop() settles: nothing left to wait for
    close_console(app)


def _exited(app: NovaApp) -> bool:
    return app.return_code is not None


async def _quit_dialog(app, pilot):
    await pilot.press("q")
    await until(pilot, lambda: app.screen.__class__.__name__ == "QuitDialog")
    return app.screen


async def test_q_with_a_move_in_flight_says_what_is_running(console):
    app, pilot = console
    dialog = await _quit_dialog(app, pilot)
    shown = str(dialog.query_one("#in-flight").render())
    assert "mover" in shown and "migrate" in shown and "resize_migrating" in shown
    assert engine_of(app).carrying[0]["host"] in shown
    assert not _exited(app)


async def test_leave_quits_without_settling(console):
    app, pilot = console
    await _quit_dialog(app, pilot)
    await pilot.press("l")
    await until(pilot, lambda: _exited(app))
    assert app.settle_on_exit is False


async def test_wait_keeps_the_dialog_until_the_move_comes_to_rest(console):
    app, pilot = console
    dialog = await _quit_dialog(app, pilot)
    await pilot.press("w")
    await until(pilot, lambda: "waiting" in str(dialog.query_one("#waiting").render()))
    # the list is live: another instance's step shows up while it waits
    engine_of(app).carrying = engine_of(app).carrying + [
        {"uuid": "u2", "name": "other", "action": "resize", "task_state": "resize_finish",
         "host": "cmp2"}]
    await until(pilot, lambda: "resize_finish" in str(dialog.query_one("#in-flight").render()))
    await pilot.pause(1.2)
    assert app.screen is dialog and not _exited(app)
    engine_of(app).carrying = []  # both reached a resting state
    await until(pilot, lambda: _exited(app))
    assert app.settle_on_exit is True


async def test_leave_still_works_while_waiting(console):
    app, pilot = console
    await _quit_dialog(app, pilot)
    await pilot.press("enter")  # Enter is wait
    await until(pilot, lambda: "waiting" in str(app.screen.query_one("#waiting").render()))
    await pilot.press("l")
    await until(pilot, lambda: _exited(app))
    assert app.settle_on_exit is False


async def test_escape_stays_in_the_console(console):
    app, pilot = console
    await _quit_dialog(app, pilot)
    await pilot.press("escape")
    await until(pilot, lambda: app.screen is app.main)
    await pilot.pause(0.7)  # the dialog's poll is gone with it
    assert not _exited(app) and app.settle_on_exit is True
    await pilot.press("q")  # and asks again
    await until(pilot, lambda: app.screen.__class__.__name__ == "QuitDialog")


async def test_q_with_nothing_in_flight_quits_at_once(console):
    app, pilot = console
    engine_of(app).carrying = []
    await pilot.press("q")
    await until(pilot, lambda: _exited(app))
    assert app.settle_on_exit is True


async def test_a_read_only_console_quits_at_once(console_env):
    config, state_dir = console_env
    Engine(config, state_dir).start().stop()  # the store a read-only console watches
    engine = Carrying(config, state_dir, read_only=True, own="none").start()
    engine.carrying = [{"uuid": "u", "name": "x", "action": "migrate", "task_state": "resize_migrating",
                        "host": "cmp1"}]
    app = read_only_console(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("q")
        await until(pilot, lambda: _exited(app))
    assert not engine.asked_on
    engine.carrying = []
    close_console(app)


class FakeService:
    """For run_console alone: the embedded service, and what it is asked on the way out."""

    def __init__(self) -> None:
        self.stopped_with: dict | None = None

    def in_flight(self) -> list[dict]:
        return [{"uuid": "u", "name": "mover", "action": "migrate",
                 "task_state": "resize_migrating", "host": "cmp1"}]

    def stop(self, settle: bool = True, settle_timeout: float = 600.0, on_wait=None) -> None:
        self.stopped_with = {"settle": settle}
        if settle and on_wait is not None:  # as Engine.settle does when there is work left
            on_wait(self.in_flight())


class FakeClient:
    closed = False

    def close(self, settle: bool = True, on_wait=None) -> None:
        self.closed = True


@pytest.mark.parametrize("answer", [True, False])
def test_run_console_stops_the_service_as_answered(monkeypatch, capsys, answer):
    def run(app):  # the console ran and the quit dialog was answered
        app.settle_on_exit = answer

    monkeypatch.setattr(tui.app.NovaApp, "__init__", lambda self, client, embedded=None: None)
    monkeypatch.setattr(tui.app.NovaApp, "run", run)
    client, service = FakeClient(), FakeService()
    assert run_console(client, service) == 0
    assert client.closed and service.stopped_with == {"settle": answer}
    said = capsys.readouterr().err
    assert ("waiting for mover (migrate, resize_migrating on cmp1)" in said) is answer
