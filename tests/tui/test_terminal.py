"""The console as an operator runs it, in a real pseudo-terminal: when the terminal goes
away (an SSH connection dropped), it exits cleanly and frees its hosts."""
from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time

from core.engine import Engine
from tests.conftest import ROOT


def test_the_console_exits_cleanly_when_its_terminal_hangs_up(console_env):
    config, state_dir = console_env
    pid, fd = pty.fork()
    if pid == 0:  # the child: novatui on the pty
        os.chdir(ROOT)
        os.environ.update(TERM="xterm-256color", NOVATUI_STATE_DIR=str(state_dir))
        os.execv(sys.executable, [sys.executable, "-m", "core.cli", "--config", str(config.path)])
    screen = b""
    deadline = time.monotonic() + 30
    while b"cmp3" not in screen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                screen += os.read(fd, 65536)
            except OSError:
                break
    assert b"cmp3" in screen, "the console did not draw its hosts"
    os.kill(pid, signal.SIGHUP)  # what the kernel sends when the SSH session's terminal goes
    os.close(fd)
    deadline = time.monotonic() + 15
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        raise AssertionError("the console did not exit after SIGHUP")
    assert os.WIFEXITED(status), f"killed by a signal ({status})"
    # the hosts are free again: another console can drive them
    with Engine(config, state_dir) as engine:
        assert len(engine.computes) == 3
