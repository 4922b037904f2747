"""Point 6: the command palette finds novatui's actions while it is open (its provider reads
the screen it was opened from, not `app.screen`, which is the palette itself) and runs them."""
from __future__ import annotations

import pytest
from textual.command import CommandPalette

from tests.conftest import launch
from tests.tui.conftest import engine_of, open_console, rows_as_engine_has_them, until


@pytest.fixture
async def console(console_env):
    async with open_console(console_env, (120, 40)) as opened:
        yield opened


def _hits(app) -> list[str]:
    palette = app.screen
    option_list = palette.query_one("CommandList")
    return [str(option_list.get_option_at_index(i).prompt) for i in range(option_list.option_count)]


async def _palette(pilot, app, query: str) -> list[str]:
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*query)
    return await until(pilot, lambda: [h for h in _hits(app) if h] or None)


async def test_the_real_palette_finds_and_runs_shelve(console):
    app, pilot = console
    launch(engine_of(app), "web1")
    await until(pilot, lambda: rows_as_engine_has_them(app))
    app.main.instances.focus()
    hits = await _palette(pilot, app, "shel")
    assert any("shelve" in h for h in hits), hits
    assert any("shelve offload" in h for h in hits), hits
    option_list = app.screen.query_one("CommandList")
    option_list.highlighted = next(i for i in range(option_list.option_count)
                                   if str(option_list.get_option_at_index(i).prompt).startswith("shelve")
                                   and "offload" not in str(option_list.get_option_at_index(i).prompt))
    await pilot.press("enter")
    await until(pilot, lambda: app.screen is app.main)
    await until(pilot, lambda: engine_of(app).instance("web1")["vm_state"] in ("shelved", "shelved_offloaded")
                and engine_of(app).instance("web1")["task_state"] is None)
    assert [a["action"] for a in engine_of(app).store.list_actions(engine_of(app).instance("web1")["uuid"])] \
        == ["create", "shelve"]


async def test_the_palette_offers_host_actions_and_console_keys(console):
    app, pilot = console
    hits = await _palette(pilot, app, "host")
    assert any("disable / enable host" in h for h in hits), hits
    assert any("evacuate host" in h for h in hits), hits
    await pilot.press("escape")
    await until(pilot, lambda: app.screen is app.main)
    hits = await _palette(pilot, app, "wrap")
    assert any("wrap" in h for h in hits), hits
