"""The service a console starts for itself (core/console_service.py): `novatui serve` as a
child process on the console's state dir, which other clients attach to, and which stops
with the console: when it quits, and when it dies without a word (kill -9)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from core.cli import Stopping, build_parser, open_client
from core.console_service import start_child_service
from core.engine import Engine
from core.service import ServiceError, find_service
from core.statedir import prepare_state_dir
from core.starting import StartingClient
from tests.conftest import make_config
from tests.invariants import ROOT, cli_env


def _gone(pid: int, within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_the_console_s_service_is_a_child_that_others_attach_to_and_that_stops_with_it(tmp_path):
    make_config(tmp_path)
    args = build_parser().parse_args(["--config", str(tmp_path / "hosts.toml"),
                                      "--state-dir", str(tmp_path / "state"), "--init"])
    client, embedded = open_client(args)
    assert isinstance(client, StartingClient) and embedded is client
    try:
        assert client.started() is None
        child = client._service
        assert child.pid != os.getpid()
        assert find_service(tmp_path / "state")["pid"] == child.pid
        # A script attaches to it while the console runs, and sees what the console does.
        done = subprocess.run([sys.executable, "-m", "core.cli", "--config", str(tmp_path / "hosts.toml"),
                               "--state-dir", str(tmp_path / "state"), "server", "create", "web1",
                               "--flavor", "m1.tiny", "--image", "cirros"],
                              cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert client.wait(client.request("pause", "web1"), 30)["message"] is None
        assert client.instance("web1")["vm_state"] == "paused"
        assert embedded.in_flight() == []
    finally:
        client.close()
        embedded.stop()
    assert child.proc.returncode == 0
    assert find_service(tmp_path / "state") is None
    log = (tmp_path / "state" / "logs" / "console-service.log").read_text()
    assert "novatui: serving" in log and "novatui: stopping" in log


def test_a_console_killed_by_sigkill_leaves_no_service_behind(tmp_path):
    """The console dies with no chance to stop its service: the pipe of the child's standard
    input closes with it, and the child stops as on SIGTERM."""
    make_config(tmp_path)
    prepare_state_dir(tmp_path / "state", False, create=True)   # as the console did
    console = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path\n"
         "from core.console_service import start_child_service\n"
         "client, child = start_child_service(Path(sys.argv[1]), Path(sys.argv[2]))\n"
         "print(child.pid, flush=True); time.sleep(600)",
         str(tmp_path / "hosts.toml"), str(tmp_path / "state")],
        cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(console.stdout.readline())
        assert find_service(tmp_path / "state")["pid"] == child_pid
        os.kill(console.pid, signal.SIGKILL)
        console.wait(10)
        assert _gone(child_pid), "the console's service outlived it"
        assert find_service(tmp_path / "state") is None
    finally:
        console.kill()
        console.stdout.close()


def test_a_child_that_cannot_start_says_why_in_one_line(tmp_path):
    make_config(tmp_path)
    deep = tmp_path / ("d" * 60) / ("e" * 60)   # too long a path for the API's Unix socket
    prepare_state_dir(deep, False, create=True)
    with pytest.raises(ServiceError) as refused:
        start_child_service(tmp_path / "hosts.toml", deep)
    assert "its path is too long for the API's Unix socket" in refused.value.message
    assert "\n" not in refused.value.message


class _Carrying:
    """An engine carrying one move for `rounds` looks (Engine.settle's own loop, over a
    stand-in for in_flight())."""
    settle = Engine.settle

    def __init__(self, rounds: int):
        self.rounds, self.asked = rounds, 0
        self._finished = threading.Condition()

    def in_flight(self) -> list[dict]:
        self.asked += 1
        if self.asked > self.rounds:
            return []
        return [{"name": "mover", "action": "migrate", "task_state": "resize_migrating",
                 "host": "cmp1"}]


def test_a_stopping_service_waits_for_its_moves_unless_signalled_again(capsys):
    stopping = Stopping()
    engine = _Carrying(rounds=3)
    stopping.settle(engine)
    assert engine.asked == 4
    err = capsys.readouterr().err.splitlines()
    assert err == ["novatui: waiting for mover (migrate, resize_migrating on cmp1) to reach a "
                   "resting state before exiting"]

    forever = _Carrying(rounds=10**9)
    stopping._signalled()   # the first signal: stop, settling first
    stopping._signalled()   # the second: stop now
    stopping.settle(forever)
    assert forever.asked == 0
    assert capsys.readouterr().err.splitlines() == [
        "novatui: stopping now: queued steps wait for the next process on their hosts"]
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)


def test_a_second_signal_ends_the_wait_for_a_move_that_never_rests(capsys):
    stopping = Stopping()
    forever = _Carrying(rounds=10**9)
    try:
        stopping._signalled()   # the first signal: stop, settling first
        threading.Timer(0.3, stopping._signalled).start()   # the second, while it waits
        stopping.settle(forever)
        assert 1 < forever.asked < 100   # it looked, waited, and stopped looking
        assert capsys.readouterr().err.splitlines()[-1] == (
            "novatui: stopping now: queued steps wait for the next process on their hosts")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
