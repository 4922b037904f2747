"""The console as `novatui` builds it with no service running: its first picture comes from
one read of the store, its service starts once that picture is painted, and a service that
cannot start ends the console with one line."""
from __future__ import annotations

import gc

from core.cli import build_parser, open_client
from core.engine import Engine
from core.errors import NovaError
from core.starting import StartingClient
from tests.conftest import launch, make_config
from tests.tui.conftest import until
from tui.app import NovaApp, run_console


def _args(tmp_path):
    return build_parser().parse_args(["--config", str(tmp_path / "hosts.toml"),
                                      "--state-dir", str(tmp_path / "state")])


async def test_the_first_picture_comes_from_the_store_then_the_service_starts(tmp_path):
    config = make_config(tmp_path)
    with Engine(config, tmp_path / "state") as engine:   # a cloud left by an earlier run
        inst = launch(engine, "web1")
    client, embedded = open_client(_args(tmp_path))
    assert isinstance(client, StartingClient) and embedded is client
    first = client.first_snapshot()
    assert [i["uuid"] for i in first.instances] == [inst["uuid"]]
    # No service was heard since the engine stopped: this console is starting them.
    assert {h["state"] for h in first.hosts} == {"starting"}
    assert not client._thread.is_alive() and client.error is None   # not started yet
    app = NovaApp(client, embedded)
    gc.disable()   # as core/cli.py starts the console: the collector waits for the picture
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.main.instances
            await until(pilot, lambda: inst["uuid"] in table.records)
            await until(pilot, app._first_painted.is_set)
            assert gc.isenabled()   # back on once the first picture is shown
            # The hosts come up: the picture the service sends replaces the first one.
            await until(pilot, lambda: {h["state"] for h in app.main.hosts.records.values()}
                        == {"up"})
            table.focus()
            await pilot.press("p")
            await until(pilot, lambda: table.records[inst["uuid"]]["vm_state"] == "paused")
    finally:
        gc.enable()
        client.close()
        embedded.stop()


async def test_a_service_that_cannot_start_ends_the_console_with_one_line(capsys, monkeypatch):
    def refuse():
        raise NovaError("a novatui service already runs for /x (pid 7); attach to it instead")
    starting = StartingClient(refuse, "unix:/x/api.sock", None)
    app = NovaApp(starting, starting)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.start_error is not None)
    assert app.return_code == 1
    assert app.start_error == "a novatui service already runs for /x (pid 7); attach to it instead"

    # run_console says it in one line and exits non-zero.
    monkeypatch.setattr(NovaApp, "run", lambda self: setattr(self, "start_error", app.start_error))
    assert run_console(starting, starting) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"novatui: {app.start_error}"]
