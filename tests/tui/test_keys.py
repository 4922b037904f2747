"""Pilot tests: every action key pressed on a suitable instance against the engine on
simulated hosts; the resulting state, and the log lines that reached the panes."""
from __future__ import annotations

import pytest

from core.actions import ACTIONS
from tests.conftest import launch
from tests.tui.conftest import (close_console, engine_of, open_console, read_only_console,
                                rows_as_engine_has_them, select_row, settle, start_engine,
                                until)
from tui.registry import REGISTRY


_select = select_row


def _state(app, name):
    return engine_of(app).instance(name)


@pytest.fixture
async def console(console_env):
    async with open_console(console_env, (140, 45)) as opened:
        yield opened


# (key, vm_state after, a line that must reach the n-cpu pane)
STEPS = [
    ("p", "paused", "Pausing"), ("p", "active", "Unpausing"),
    ("z", "suspended", None), ("z", "active", "Resuming"),  # Nova logs nothing of its own for suspend
    ("o", "stopped", "Instance shutdown successfully"), ("s", "active", "Instance rebooted successfully."),
    ("r", "active", "Instance soft rebooted successfully."),
    ("R", "active", "Instance rebooted successfully."),
]


async def test_every_lifecycle_key_drives_the_engine_and_the_panes(console):
    app, pilot = console
    await pilot.press("n")
    await pilot.press(*"web1")
    await pilot.press("enter")
    await until(pilot, lambda: engine_of(app).instances() and _state(app, "web1")["vm_state"] == "active")
    await settle(pilot, app)
    uuid = _state(app, "web1")["uuid"]
    assert "Instance spawned successfully." in app.main.logs.pane_text("n-cpu")
    assert '"POST /v2.1/servers HTTP/1.1" status: 202' in app.main.logs.pane_text("n-api")
    app.main.logs.set_level("DEBUG")  # the panes hide DEBUG lines at first
    assert "Selected host" in app.main.logs.pane_text("n-sch")
    _select(app, "web1")
    for key, vm_state, line in STEPS:
        await pilot.press(key)
        await until(pilot, lambda: _state(app, "web1")["vm_state"] == vm_state
                    and _state(app, "web1")["task_state"] is None)
        await settle(pilot, app)
        assert line is None or f"[instance: {uuid[:8]} web1] {line}" in app.main.logs.pane_text("n-cpu"), key
        row = app.main.instances.get_row(uuid)
        assert str(row[2]) == {"active": "ACTIVE", "paused": "PAUSED", "suspended": "SUSPENDED",
                               "stopped": "SHUTOFF"}[vm_state]
    await pilot.press("L")
    await until(pilot, lambda: _state(app, "web1")["locked"])
    await pilot.press("p")  # locked: refused, with the reason
    await settle(pilot, app)
    assert _state(app, "web1")["vm_state"] == "active"
    assert any("is locked" in n.message for n in app._notifications)
    await pilot.press("L")
    await until(pilot, lambda: not _state(app, "web1")["locked"])
    await pilot.press("d")
    await pilot.pause(0.2)
    assert app.screen.__class__.__name__ == "ConfirmDialog"
    await pilot.press("y")
    await until(pilot, lambda: not engine_of(app).instances())
    await settle(pilot, app)
    assert uuid not in app.main.instances.records and app.main.instances.row_count == 0
    assert "Terminating instance" in app.main.logs.pane_text("n-cpu")
    history = [a["action"] for a in engine_of(app).store.list_actions(uuid)]
    assert history == ["create", "pause", "unpause", "suspend", "resume", "stop", "start",
                       "reboot", "reboot", "lock", "unlock", "delete"]


async def test_force_delete_key_asks_then_deletes(console):
    app, pilot = console
    launch(engine_of(app), "gone")
    await until(pilot, lambda: rows_as_engine_has_them(app))
    _select(app, "gone")
    await pilot.press("D")
    await pilot.pause(0.2)
    await pilot.press("n")  # declined: nothing happens
    await pilot.pause(0.3)
    assert _state(app, "gone")["vm_state"] == "active"
    await pilot.press("D")
    await pilot.pause(0.2)
    await pilot.press("y")
    await until(pilot, lambda: not engine_of(app).instances())


async def test_a_key_the_state_forbids_sends_nothing_and_says_why(console):
    app, pilot = console
    inst = launch(engine_of(app), "vm")
    await until(pilot, lambda: rows_as_engine_has_them(app))
    _select(app, "vm")
    assert app.main.check_action("key", ("s",)) is None  # dimmed in the footer
    assert app.main.check_action("key", ("p",)) is True
    await pilot.press("s")
    await pilot.pause(0.3)
    assert any(f"Cannot 'start' instance {inst['uuid']} while it is in vm_state active" in n.message
               for n in app._notifications)
    assert [a["action"] for a in engine_of(app).store.list_actions(inst["uuid"])] == ["create"]


async def test_marked_rows_get_one_action_and_refusals_are_named(console):
    app, pilot = console
    for name in ("a", "b", "c"):
        launch(engine_of(app), name)
    await until(pilot, lambda: app.main.instances.row_count == 3)
    engine_of(app).wait(engine_of(app).request("pause", "c"))
    for name in ("a", "b", "c"):
        _select(app, name)
        await pilot.press("space")
    await pilot.press("p")  # one action for all: pause a and b; c is paused: refused, named
    await until(pilot, lambda: [_state(app, n)["vm_state"] for n in "abc"] == ["paused", "paused", "paused"])
    assert app.main.instances.marked == set()
    assert any("not sent to c" in n.title for n in app._notifications)


async def test_filter_sort_problems_and_host_scope(console):
    app, pilot = console
    for name in ("web1", "web2", "db1"):
        launch(engine_of(app), name, az="az1" if name == "db1" else None)
    await until(pilot, lambda: app.main.instances.row_count == 3)
    table = app.main.instances
    await pilot.press("slash", *"^web", "enter")
    assert table.row_count == 2
    await pilot.press("slash", *"!web", "enter")
    assert table.row_count == 1
    await pilot.press("escape")
    assert table.row_count == 3
    _select(app, "db1")
    await pilot.press("N")  # sort by name
    assert [table.get_row_at(i)[0].plain for i in range(3)] == ["db1", "web1", "web2"]
    assert table.selected["name"] == "db1"  # the cursor stayed on its instance
    await pilot.press("O")
    assert [table.get_row_at(i)[0].plain for i in range(3)] == ["web2", "web1", "db1"]
    await pilot.press("exclamation_mark")
    assert table.row_count == 0
    await pilot.press("exclamation_mark")
    hosts = app.main.hosts
    hosts.focus()
    hosts.move_cursor(row=hosts.get_row_index("cmp3"))
    await pilot.press("enter")
    assert table.row_count == 2  # db1 is on cmp2
    await pilot.press("enter")
    assert table.row_count == 3


async def test_rows_update_in_place(console):
    app, pilot = console
    inst = launch(engine_of(app), "vm")
    await until(pilot, lambda: rows_as_engine_has_them(app))
    table = app.main.instances
    calls = {"update_cell": 0, "add_row": 0, "remove_row": 0, "clear": 0}
    for name in calls:
        original = getattr(table, name)

        def counting(*a, _n=name, _o=original, **kw):
            calls[_n] += 1
            return _o(*a, **kw)
        setattr(table, name, counting)
    engine_of(app).request("pause", "vm")
    await until(pilot, lambda: str(table.get_row(inst["uuid"])[2]) == "PAUSED")
    assert calls["update_cell"] >= 2 and calls["add_row"] == calls["remove_row"] == calls["clear"] == 0


async def test_detail_screen_shows_fields_history_fault_and_xml(console):
    app, pilot = console
    launch(engine_of(app), "vm")
    await until(pilot, lambda: rows_as_engine_has_them(app))
    _select(app, "vm")
    await pilot.press("enter")
    await pilot.pause(0.5)
    screen = app.screen
    assert screen.__class__.__name__ == "DetailScreen"
    fields = screen.query_one("#fields")
    values = {fields.get_row_at(i)[0]: fields.get_row_at(i)[1] for i in range(fields.row_count)}
    assert values["status"] == "ACTIVE" and values["flavor"].startswith("m1.tiny (1 vCPU")
    await until(pilot, lambda: "<domain type='test'" in str(screen.query_one("#xml-text").render()))
    assert screen.query_one("#history").row_count == 1
    await pilot.press("escape")
    assert app.screen is app.main


async def test_help_and_palette_come_from_the_registry(console):
    app, pilot = console
    await pilot.press("question_mark")
    await pilot.pause(0.2)
    table = app.screen.query_one("#help-table")
    assert table.row_count == len(REGISTRY)
    await pilot.press("escape")
    from tui.commands import ActionCommands
    names = [name for name, _, _ in ActionCommands(app.screen)._entries()]
    for action in ACTIONS:
        assert action.replace("_", " ") in names


async def test_read_only_console_refuses_in_the_core(console_env):
    owner = start_engine(console_env)
    launch(owner, "vm")
    engine = start_engine(console_env, read_only=True, own="none")
    app = read_only_console(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.main.instances.row_count == 1)
        assert "READ-ONLY" in app.sub_title
        _select(app, "vm")
        assert app.main.check_action("key", ("p",)) is None
        await pilot.press("p")
        await pilot.pause(0.2)
        assert any("read-only" in n.message for n in app._notifications)
        # even if the UI sent it, the core says no
        app.send("pause", engine.instance("vm"))
        await until(pilot, lambda: any("read-only mode" in n.message for n in app._notifications))
    close_console(app)
    owner.stop()
    assert owner.store.get_instance(owner.store.list_instances()[0]["uuid"])["vm_state"] == "active"


async def _dialog_ok(pilot, app, *keys):
    await until(pilot, lambda: app.screen.__class__.__name__ == "ArgumentDialog")
    if keys:
        await pilot.press(*keys)
    app.screen.submit()
    await pilot.pause(0.1)


async def test_image_and_move_keys(console):
    app, pilot = console
    inst = launch(engine_of(app), "mover", "m1.tiny")
    await until(pilot, lambda: rows_as_engine_has_them(app))
    _select(app, "mover")

    def idle(vm_state):
        return lambda: _state(app, "mover")["vm_state"] == vm_state and _state(app, "mover")["task_state"] is None

    def verify_resize():
        return str(app.main.instances.get_row(inst["uuid"])[2]) == "VERIFY_RESIZE"

    await pilot.press("i")
    await _dialog_ok(pilot, app)  # the suggested name: mover-snap
    await until(pilot, lambda: any(i["name"] == "mover-snap" and i["status"] == "active"
                                   for i in engine_of(app).images.list()))
    await until(pilot, idle("active"))
    await pilot.press("b")
    await _dialog_ok(pilot, app)
    await until(pilot, lambda: app.screen.__class__.__name__ == "ConfirmDialog")
    await pilot.press("y")
    await until(pilot, lambda: len(engine_of(app).store.list_actions(inst["uuid"])) == 3)
    await until(pilot, idle("active"))
    await pilot.press("x")
    await _dialog_ok(pilot, app)
    await until(pilot, idle("rescued"))
    await pilot.press("x")
    await until(pilot, idle("active"))
    await pilot.press("h")
    await until(pilot, idle("shelved_offloaded"))
    await pilot.press("h")
    await until(pilot, idle("active"))
    await pilot.press("e")
    await until(pilot, lambda: app.screen.__class__.__name__ == "ArgumentDialog")
    app.screen.query_one("#value").value = "m1.tiny"  # the same flavor: refused
    await _dialog_ok(pilot, app)
    await until(pilot, lambda: any("must change flavor" in n.message for n in app._notifications))
    await pilot.press("e")
    await _dialog_ok(pilot, app)  # offered first: the next flavor up, m1.small
    await until(pilot, idle("resized"))
    # the row follows the store's change by an event: the keys act on what the row shows
    await until(pilot, verify_resize)
    await pilot.press("v")
    await until(pilot, idle("active"))
    assert _state(app, "mover")["flavor"] == "m1.tiny"
    await pilot.press("m")
    await until(pilot, idle("resized"))
    await until(pilot, verify_resize)
    await pilot.press("c")
    await until(pilot, idle("active"))
    await pilot.press("M")  # the test driver cannot live migrate: said at once, nothing sent
    await until(pilot, lambda: any("live migrate" in n.message for n in app._notifications))
    await pilot.press("E")  # the host is up: said at once, not asked
    await until(pilot, lambda: any("still in use" in n.message for n in app._notifications))
    assert app.screen is app.main
    await settle(pilot, app)
    history = [a["action"] for a in engine_of(app).store.list_actions(inst["uuid"])]
    assert history == ["create", "createImage", "rebuild", "rescue", "unrescue", "shelve", "unshelve",
                       "resize", "revertResize", "migrate", "confirmResize"]
    cpu = app.main.logs.pane_text("n-cpu")
    for line in ("Snapshot image upload complete", "Rebuilding instance", "Rescuing", "Unrescuing",
                 "Shelve offloading", "Unshelving", "Migrating"):
        assert line in cpu, line


async def test_an_action_in_the_history_narrows_the_panes_to_its_request(console):
    app, pilot = console
    inst = launch(engine_of(app), "traced")
    app.client.wait(app.client.request("pause", "traced"))  # over HTTP: an n-api access line
    await until(pilot, lambda: rows_as_engine_has_them(app))
    await settle(pilot, app)
    _select(app, "traced")
    await pilot.press("enter")
    await until(pilot, lambda: app.screen.__class__.__name__ == "DetailScreen")
    history = app.screen.query_one("#history")
    await until(pilot, lambda: history.row_count == 2)
    request = engine_of(app).store.list_actions(inst["uuid"])[1]["request_id"]
    history.focus()
    history.move_cursor(row=1)
    await pilot.press("enter")
    await until(pilot, lambda: app.screen is app.main)
    for pane in ("n-api", "n-cpu"):
        lines = app.main.logs.pane_text(pane).splitlines()
        assert lines and all(request[:12] in line for line in lines), pane
    assert "Pausing" in app.main.logs.pane_text("n-cpu")
    await pilot.press("escape")
    assert "Spawned" not in app.main.logs.pane_text("all") and "spawned" in app.main.logs.pane_text("all")


async def test_a_read_only_console_sees_what_another_process_changes(console_env):
    owner = start_engine(console_env)  # a process driving the hosts, with no service
    try:
        inst = launch(owner, "shared")
        app = read_only_console(start_engine(console_env, read_only=True, own="none"))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.main.instances.row_count == 1)
            owner.request("lock", "shared")  # API-only: no event reaches this console
            await until(pilot, lambda: "[L]" in app.main.instances.get_row(inst["uuid"])[0].plain, 5)
            later = launch(owner, "later")
            await until(pilot, lambda: app.main.instances.row_count == 2, 5)
            # and the other process's log lines reach the panes: read from its files
            await until(pilot, lambda: f"[instance: {later['uuid'][:8]} later] Instance spawned"
                        in app.main.logs.pane_text("n-cpu"), 5)
        close_console(app)
    finally:
        owner.stop()
