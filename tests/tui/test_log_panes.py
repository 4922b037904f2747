"""Points 12 and 13: log panes that can be read. Wrap (`w`) and zoom (`Z`) toggles, a level
filter hiding DEBUG at first (the files keep it), a "new lines below" marker while a pane is
scrolled up, an aligned `all` pane with the n-cpu host in a column of its own, n-cpu file
lines in oslo.log's own format, and instance names beside their short ids."""
from __future__ import annotations

import re
import time


from core.logs import LogLine, parse_line, read_tail
from tests.conftest import launch
from tests.tui.conftest import engine_of, settle, until

STAMP = re.compile(r"\d\d:\d\d:\d\d\.\d{3}")
OSLO = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \d+ (DEBUG|INFO|WARNING|ERROR) ")


async def _launched(pilot, app, name="web1"):
    inst = launch(engine_of(app), name)
    await until(pilot, lambda: app.main.instances.row_count >= 1)
    await settle(pilot, app)
    return inst


async def test_wrap_toggle(console):
    app, pilot = console
    await _launched(pilot, app)
    logs = app.main.logs
    width = app.size.width
    assert any(len(line) > width for line in logs.pane_text("all").splitlines())
    await pilot.press("w")
    await pilot.pause(0.2)
    assert all(len(line) <= width for line in logs.pane_text("all").splitlines())
    assert "wrapped" in logs.border_title
    await pilot.press("w")
    await pilot.pause(0.2)
    assert any(len(line) > width for line in logs.pane_text("all").splitlines())


async def test_zoom_toggle(console):
    app, pilot = console
    await _launched(pilot, app)
    before = app.main.logs.size.height
    await pilot.press("Z")
    await pilot.pause(0.2)
    assert not app.main.instances.display or app.main.instances.size.height == 0
    assert app.main.logs.size.height > before
    await pilot.press("Z")
    await pilot.pause(0.2)
    assert app.main.instances.size.height > 0 and app.main.logs.size.height == before


async def test_debug_hidden_at_first_and_the_level_key(console):
    app, pilot = console
    await _launched(pilot, app)
    logs = app.main.logs
    assert "DEBUG" not in logs.pane_text("all") and "Selected host" not in logs.pane_text("n-sch")
    assert "level ≥ INFO" in logs.border_title
    assert "Selected host" in (engine_of(app).state_dir / "logs" / "n-sch.log").read_text()
    for _ in range(3):  # INFO -> WARNING -> ERROR -> DEBUG
        await pilot.press("l")
    assert "Selected host" in logs.pane_text("n-sch") and "level ≥ DEBUG" in logs.border_title


async def test_new_lines_below_marker(console):
    app, pilot = console
    await _launched(pilot, app, "a")
    log = app.main.query_one("#log-all")
    for n in range(3):
        launch(engine_of(app), f"more{n}")
    await settle(pilot, app)
    log.scroll_home(animate=False)
    await pilot.pause(0.1)
    launch(engine_of(app), "late")
    await settle(pilot, app)
    await until(pilot, lambda: "new lines below" in app.main.logs.border_title)
    log.scroll_end(animate=False)
    await until(pilot, lambda: "new lines below" not in app.main.logs.border_title)


async def test_all_pane_is_aligned_and_names_instances(console):
    app, pilot = console
    inst = await _launched(pilot, app)
    lines = app.main.logs.pane_text("all").splitlines()
    assert lines
    assert len({STAMP.search(line).start() for line in lines}) == 1  # one column for the time
    cpu = [line for line in lines if line.startswith("n-cpu")]
    host = inst["host"]
    assert any(line.split()[1] == host for line in cpu)  # the host beside the service
    assert f"[instance: {inst['uuid'][:8]} web1]" in app.main.logs.pane_text("n-cpu")
    assert any(line.startswith(host) for line in app.main.logs.pane_text("n-cpu").splitlines())


async def test_n_cpu_file_lines_are_oslo_lines(console):
    app, pilot = console
    inst = await _launched(pilot, app)
    text = (engine_of(app).state_dir / "logs" / "n-cpu.log").read_text().splitlines()
    assert text and all(OSLO.match(line) for line in text), text[:3]
    assert not any(line.startswith(inst["host"]) for line in text)
    # the pane still shows the host, even for lines read back from the file
    history = read_tail(engine_of(app).state_dir / "logs")
    spawned = next(ln for ln in history if "spawned successfully" in ln.message)
    assert spawned.host is None
    assert app.main.logs._line_text("n-cpu", spawned).startswith(inst["host"])


def test_parse_line_reads_the_old_and_the_new_form():
    line = LogLine("n-cpu", time.time(), "INFO", "nova.compute.manager", "Pausing",
                   "req-0123", "6f1c2e8a-0000-4000-8000-000000000001", "cmp1", 77)
    new = parse_line("n-cpu", line.display())
    assert not line.display().startswith("cmp1")
    assert new is not None and new.host is None and new.message == "Pausing"
    old = parse_line("n-cpu", "cmp1 " + line.format())
    assert old is not None and old.host == "cmp1" and old.instance == line.instance
