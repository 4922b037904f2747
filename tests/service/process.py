"""`novatui serve` as a process of its own, the way an operator (or systemd) runs it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from core.service import wait_for_service
from tests.invariants import ROOT, cli_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    def __init__(self, config_path: Path, state_dir: Path, *args: str, env: dict | None = None):
        self.cmd = [sys.executable, "-m", "core.cli", "--config", str(config_path),
                    "--state-dir", str(state_dir), "--init", "serve", *args]
        self.state_dir, self.env = Path(state_dir), env
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> dict:
        """Until the service answers on its socket; its service.json."""
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env or cli_env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        found = wait_for_service(self.state_dir, timeout, self.proc)
        if found is not None:
            return found
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited {self.proc.returncode}: {self.proc.stderr.read()}")
        self.proc.kill()
        raise AssertionError(f"serve did not answer within {timeout} s")

    def run(self, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """A serve that is expected to refuse: its exit and output."""
        return subprocess.run(self.cmd, cwd=ROOT, env=self.env or cli_env(),
                              capture_output=True, text=True, timeout=timeout)

    def wait(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout)

    def terminate(self, timeout: float = 60.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc is not None:
            for stream in (self.proc.stdout, self.proc.stderr):
                stream.close()
