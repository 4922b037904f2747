"""Points 7-11: keys act on the focused view (host rows have actions of their own), the key
bar follows the selection, bulk actions are one action for every marked row, view state
shows in the titles and toasts do not pile up, and vim/k9s navigation habits work."""
from __future__ import annotations


from tests.conftest import launch
from tests.tui.conftest import engine_of, select_row, settle, until



_select = select_row


def _state(app, name):
    return engine_of(app).instance(name)


async def _rows(pilot, app, n):
    await until(pilot, lambda: app.main.instances.row_count == n)


def _items(app) -> dict:
    return {i.key: i for i in app.main.keybar.items}


# -- point 7 ---------------------------------------------------------------------------
async def test_the_instances_table_has_the_focus_from_the_start(console):
    app, pilot = console
    await settle(pilot, app)
    assert app.focused is app.main.instances


async def test_instance_keys_do_nothing_on_the_hosts_table(console):
    app, pilot = console
    launch(engine_of(app), "vm")
    await _rows(pilot, app, 1)
    _select(app, "vm")
    app.main.hosts.focus()
    await pilot.press("z")
    await pilot.pause(0.5)
    assert _state(app, "vm")["vm_state"] == "active"
    assert [a["action"] for a in engine_of(app).store.list_actions(_state(app, "vm")["uuid"])] == ["create"]
    assert any("acts on the instances table" in n.message for n in app._notifications)


async def test_host_rows_disable_with_a_reason_enable_and_show_instances(console):
    app, pilot = console
    hosts = app.main.hosts
    await until(pilot, lambda: "cmp1" in hosts.records)
    hosts.focus()
    hosts.move_cursor(row=hosts.get_row_index("cmp1"))
    await pilot.pause(0.1)
    assert _items(app)["e"].label == "disable"
    await pilot.press("e")
    await until(pilot, lambda: app.screen.__class__.__name__ == "ReasonDialog")
    await pilot.press(*"kernel update", "enter")
    await until(pilot, lambda: not hosts.records["cmp1"]["enabled"])
    view = next(h for h in engine_of(app).hosts() if h["name"] == "cmp1")
    assert view["disabled_reason"] == "kernel update"
    await until(pilot, lambda: _items(app)["e"].label == "enable")
    await pilot.press("e")
    await until(pilot, lambda: hosts.records["cmp1"]["enabled"])
    launch(engine_of(app), "vm")
    await _rows(pilot, app, 1)
    host = _state(app, "vm")["host"]
    hosts.move_cursor(row=hosts.get_row_index(host))
    other = next(h for h in hosts.records if h != host)
    await pilot.press("enter")
    assert app.main.instances.row_count == 1 and app.main.scope_host == host
    hosts.move_cursor(row=hosts.get_row_index(other))
    await pilot.press("enter")
    assert app.main.instances.row_count == 0


async def test_evacuate_all_is_dimmed_while_the_host_is_up_then_asks(console):
    app, pilot = console
    for name in ("a1", "a2"):
        launch(engine_of(app), name, az="az1")
    await _rows(pilot, app, 2)
    host = _state(app, "a1")["host"]
    hosts = app.main.hosts
    hosts.focus()
    hosts.move_cursor(row=hosts.get_row_index(host))
    await pilot.pause(0.1)
    item = _items(app)["E"]
    assert not item.enabled and item.reason == "host is up"
    await pilot.press("E")
    await pilot.pause(0.2)
    assert app.screen is app.main  # not asked: it cannot work
    assert any("still in use" in n.message for n in app._notifications)
    engine_of(app).api.set_host(host, True, forced_down=True)
    await until(pilot, lambda: hosts.records[host]["state"] == "down")
    await until(pilot, lambda: _items(app)["E"].enabled)
    await pilot.press("E")
    await until(pilot, lambda: app.screen.__class__.__name__ == "ConfirmDialog")
    assert app.screen.question == f"Evacuate 2 instances from {host}?"
    await pilot.press("escape")


# -- point 8 ---------------------------------------------------------------------------
async def test_key_bar_follows_the_selection(console):
    app, pilot = console
    launch(engine_of(app), "vm")
    await _rows(pilot, app, 1)
    _select(app, "vm")
    await pilot.pause(0.1)
    bar = app.main.keybar.plain()
    assert "?  help" in bar and "q  quit" in bar
    items = _items(app)
    assert items["p"].label == "pause" and items["p"].enabled
    assert not items["s"].enabled  # start: the state forbids it
    assert "c" not in items and "v" not in items
    assert not items["M"].enabled and items["M"].reason == "simulated host"
    engine_of(app).wait(engine_of(app).request("pause", "vm"))
    await until(pilot, lambda: _items(app)["p"].label == "unpause")
    engine_of(app).wait(engine_of(app).request("unpause", "vm"))
    engine_of(app).wait(engine_of(app).request("resize", "vm", flavor="m1.small"))
    await until(pilot, lambda: "c" in _items(app))
    assert _items(app)["c"].label == "confirm" and _items(app)["v"].label == "revert"
    bar = app.main.keybar.plain()
    assert "?  help" in bar and "q  quit" in bar and " c  confirm" in bar


# -- point 9 ---------------------------------------------------------------------------
async def test_bulk_delete_asks_once_listing_in_table_order(console):
    app, pilot = console
    for name in ("e5", "b2", "d4", "a1", "c3"):
        launch(engine_of(app), name)
    await _rows(pilot, app, 5)
    await pilot.press("N")
    for name in ("d4", "a1", "e5", "c3", "b2"):
        _select(app, name)
        await pilot.press("space")
    await pilot.press("d")
    await until(pilot, lambda: app.screen.__class__.__name__ == "ConfirmDialog")
    dialog = app.screen
    assert dialog.question == "Delete 5 instances?"
    assert [inst["name"] for inst, _, _ in dialog.plan] == ["a1", "b2", "c3", "d4", "e5"]
    await pilot.press("y")
    await until(pilot, lambda: not engine_of(app).instances())


async def test_bulk_toggle_is_one_action_and_names_refusals(console):
    app, pilot = console
    for name in ("a", "b"):
        launch(engine_of(app), name)
    await _rows(pilot, app, 2)
    engine_of(app).wait(engine_of(app).request("pause", "b"))
    await pilot.press("N")
    for name in ("a", "b"):
        _select(app, name)
        await pilot.press("space")
    await until(pilot, lambda: _items(app)["p"].label == "pause")
    await pilot.press("p")
    await until(pilot, lambda: _state(app, "a")["vm_state"] == "paused")
    await settle(pilot, app)
    assert _state(app, "b")["vm_state"] == "paused"  # not unpaused
    note = next(n for n in app._notifications if "not sent to b" in n.title)
    assert "b: Cannot 'pause'" in note.message


# -- point 10 --------------------------------------------------------------------------
async def test_view_state_shows_in_the_titles(console):
    app, pilot = console
    for name in ("web1", "web2", "db1"):
        launch(engine_of(app), name)
    await _rows(pilot, app, 3)
    table = app.main.instances
    await pilot.press("slash", *"^web", "enter")
    assert "filter /^web/" in table.border_title and "instances 2/3" in table.border_title
    await pilot.press("escape")
    await pilot.press("N")
    assert "sort Name ▲" in table.border_title
    await pilot.press("N")
    assert "sort Name ▼" in table.border_title
    await pilot.press("space")
    assert "1 marked" in table.border_title
    await pilot.press("exclamation_mark")
    assert "problems only" in table.border_title and "problems only" in app.main.hosts.border_title
    await pilot.press("escape")
    assert "problems only" not in table.border_title and "marked" not in table.border_title
    _select(app, "db1")
    await pilot.press("f")
    assert "instance db1 only" in app.main.logs.border_title
    await pilot.press("f")
    assert "only" not in app.main.logs.border_title


async def test_toasts_do_not_pile_up(console):
    app, pilot = console
    launch(engine_of(app), "vm")
    await _rows(pilot, app, 1)
    _select(app, "vm")
    for _ in range(5):
        await pilot.press("s")  # refused: the state forbids it
    await pilot.pause(0.3)
    assert len([n for n in app._notifications if "Cannot 'start'" in n.message]) == 1
    await pilot.press("c")
    await pilot.pause(0.3)
    assert len(list(app._notifications)) == 1


# -- point 11 --------------------------------------------------------------------------
async def test_vim_keys_home_end_and_shift_letter_sort(console):
    app, pilot = console
    for name in ("c", "a", "b", "d"):
        launch(engine_of(app), name)
    await _rows(pilot, app, 4)
    table = app.main.instances
    table.focus()
    await pilot.press("N")
    assert [table.get_row_at(i)[0].plain for i in range(4)] == ["a", "b", "c", "d"]
    await pilot.press("g")
    assert table.cursor_row == 0
    await pilot.press("j", "j")
    assert table.cursor_row == 2
    await pilot.press("k")
    assert table.cursor_row == 1
    await pilot.press("G")
    assert table.cursor_row == 3
    await pilot.press("home")
    assert table.cursor_row == 0
    await pilot.press("end")
    assert table.cursor_row == 3
    await pilot.press("N")  # again: the other way
    assert [table.get_row_at(i)[0].plain for i in range(4)] == ["d", "c", "b", "a"]
    engine_of(app).wait(engine_of(app).request("pause", "b"))
    await until(pilot, lambda: str(table.get_row(_state(app, "b")["uuid"])[2]) == "PAUSED")
    await pilot.press("S")  # status
    assert [table.get_row_at(i)[0].plain for i in range(4)][-1] == "b"


async def test_a_click_on_the_highlighted_row_does_not_open_details(console):
    app, pilot = console
    launch(engine_of(app), "vm")
    await _rows(pilot, app, 1)
    _select(app, "vm")
    await pilot.pause(0.1)
    table = app.main.instances
    await pilot.click(table, offset=(4, 2))  # border, header, then the first row
    await pilot.pause(0.3)
    assert app.screen is app.main
    await pilot.press("enter")
    await until(pilot, lambda: app.screen.__class__.__name__ == "DetailScreen")
