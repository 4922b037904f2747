"""The detail screen follows its instance live and takes the action keys (issue 10, point 4);
the launch, rebuild and rescue dialogs offer the images there are now (point 5)."""
from __future__ import annotations


from tests.conftest import act, launch
from tests.tui.conftest import engine_of, rows_as_engine_has_them, until
from tui.app import NovaApp



def _select(app: NovaApp, name: str) -> None:
    table = app.main.instances
    uuid = next(k for k, r in table.records.items() if r["name"] == name)
    table.move_cursor(row=table.get_row_index(uuid))
    table.focus()


def _fields(screen) -> dict:
    fields = screen.query_one("#fields")
    return {fields.get_row_at(i)[0]: fields.get_row_at(i)[1] for i in range(fields.row_count)}


def _state(app, name):
    return engine_of(app).instance(name)


async def test_the_detail_screen_follows_the_instance_and_acts_on_it(console):
    app, pilot = console
    vm = launch(engine_of(app), "vm")
    launch(engine_of(app), "other")
    await until(pilot, lambda: app.main.instances.row_count == 2)
    _select(app, "vm")
    await pilot.press("enter")
    await until(pilot, lambda: app.screen.__class__.__name__ == "DetailScreen")
    screen = app.screen
    await until(pilot, lambda: _fields(screen).get("status") == "ACTIVE")
    fields, history = screen.query_one("#fields"), screen.query_one("#history")
    cleared = []
    for table in (fields, history):
        original = table.clear
        table.clear = lambda *a, _o=original, **kw: (cleared.append(1), _o(*a, **kw))
    act(engine_of(app), "pause", "vm")                     # changed elsewhere: followed live
    await until(pilot, lambda: _fields(screen).get("status") == "PAUSED", timeout=5)
    await until(pilot, lambda: history.row_count == 2, timeout=5)
    assert not cleared                                 # rows changed in place
    _select(app, "other")                              # the main table's cursor moves away
    assert screen.check_action("act", ("p",)) is True  # unpause is allowed here
    assert screen.check_action("act", ("s",)) is None  # start is not: dimmed
    await pilot.press("p")                             # acts on this screen's instance
    await until(pilot, lambda: _state(app, "vm")["vm_state"] == "active"
                and _state(app, "vm")["task_state"] is None)
    assert _state(app, "other")["vm_state"] == "active"
    assert [a["action"] for a in engine_of(app).store.list_actions(_state(app, "other")["uuid"])] == ["create"]
    await until(pilot, lambda: _fields(screen).get("status") == "ACTIVE", timeout=5)
    await pilot.press("s")                             # refused: says why, sends nothing
    await pilot.pause(0.2)
    assert any(f"Cannot 'start' instance {vm['uuid']}" in n.message for n in app._notifications)
    assert app.screen is screen
    await pilot.press("escape")
    assert app.screen is app.main


def _options(screen, select_id: str) -> list[str]:
    return [value for _, value in screen.query_one(f"#{select_id}")._options]


async def test_dialogs_offer_the_images_there_are_now(console):
    app, pilot = console
    launch(engine_of(app), "vm")
    await until(pilot, lambda: rows_as_engine_has_them(app))
    act(engine_of(app), "snapshot", "vm", name="vm-snap")  # an image made after the start
    await until(pilot, lambda: _state(app, "vm")["task_state"] is None)
    _select(app, "vm")
    await pilot.press("n")
    await until(pilot, lambda: "vm-snap" in _options(app.screen, "image"))
    await pilot.press("escape")
    for key, dialog in (("b", "ArgumentDialog"), ("x", "ArgumentDialog")):  # rebuild, rescue
        await until(pilot, lambda: app.screen is app.main)
        await pilot.press(key)
        await until(pilot, lambda: app.screen.__class__.__name__ == dialog)
        await until(pilot, lambda: "vm-snap" in _options(app.screen, "value"))
        await pilot.press("escape")
