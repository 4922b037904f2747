"""The service a console starts for itself when none runs for its state dir: `novatui serve`
as a child process, on the same state dir, for as long as the console runs.

Why a child and not threads of the console: the service's threads (the API, the conductor,
a compute service per host) would share the console's interpreter lock, so a burst of
requests slowed the console's keys and paints, and the paints slowed the requests; and the
console would hold every hypervisor connection and every guest record in its own memory.
As a child it is the service `novatui serve` runs: other consoles and scripts attach to it
while the console runs, and it stops with the console:
- the console quits: SIGTERM, and the moves in flight reach a resting state first (the
  quit dialog lists them); "leave them queued": SIGTERM again, and it stops at once;
- the console dies (kill -9, a dropped SSH session): its end of the child's standard input
  closes, and the child stops as after SIGTERM.
The child runs in a session of its own: the terminal's signals are the console's to answer.
What the child prints goes to <state>/logs/console-service.log; the last line is the
reason when it cannot start."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from .errors import NovaError
from .service import SOCKET_FILE, ServiceError, wait_for_service

LOG_FILE = "console-service.log"
START_LIMIT = 120.0     # seconds for the child to answer on its socket
POLL = 0.02
HURRY_EVERY = 0.2       # "stop now" is a second SIGTERM: repeated until it is seen


def start_child_service(config_path: Path, state_dir: Path) -> tuple:
    """(an HTTP client of it, its ChildService): once it answers on the state dir's socket.
    A child that exits or does not answer in time: ServiceError with its last line."""
    from .cli import attach
    logs = state_dir / "logs"
    logs.mkdir(mode=0o700, exist_ok=True)
    log_path = logs / LOG_FILE
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    start_at = os.lseek(fd, 0, os.SEEK_END)
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    env.pop("NOVATUI_URL", None)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "--config", str(Path(config_path).resolve()),
             "--state-dir", str(state_dir), "serve", "--for-console"],
            stdin=subprocess.PIPE, stdout=fd, stderr=fd, env=env, start_new_session=True)
    finally:
        os.close(fd)
    child = ChildService(proc, state_dir, log_path, start_at)
    child.wait_until_serving()
    return attach(child.socket_url, False), child


class ChildService:
    """The console's own service process: in_flight() and stop(), as an in-process
    core.service.Service has them."""

    def __init__(self, proc: subprocess.Popen, state_dir: Path, log_path: Path, log_from: int):
        self.proc = proc
        self.state_dir = state_dir
        self.log_path = log_path
        self._log_from = log_from
        self._client = None
        self.socket_url = f"unix:{state_dir / SOCKET_FILE}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_until_serving(self) -> None:
        if wait_for_service(self.state_dir, START_LIMIT, self.proc, POLL) is not None:
            return
        if self.proc.poll() is not None:
            self._close_pipe()
            raise ServiceError(self._last_line() or
                               f"its service exited with status {self.proc.returncode}")
        self.proc.kill()
        self.proc.wait()
        self._close_pipe()
        raise ServiceError(f"its service (pid {self.proc.pid}) did not answer on "
                           f"{self.socket_url} within {START_LIMIT:.0f} s; see {self.log_path}")

    def _last_line(self) -> str:
        """The child's last line since it started ("novatui: " dropped): why it stopped."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_from)
                lines = f.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1].removeprefix("novatui: ") if lines else ""

    def in_flight(self) -> list[dict]:
        """What the child carries between steps; [] once it is gone."""
        if self.proc.poll() is not None:
            return []
        if self._client is None:
            from .cli import attach
            self._client = attach(self.socket_url, False)
        try:
            return self._client.service_in_flight()
        except NovaError:   # it stopped meanwhile
            return []

    def stop(self, settle: bool = True, on_wait: Callable[[list[dict]], None] | None = None
             ) -> None:
        """settle: the child lets the moves in flight reach a resting state, then exits
        (on_wait is told once what it waits for); else the step each compute service is in
        finishes, and queued steps wait for the next process that drives their hosts."""
        try:
            if self.proc.poll() is None:
                told = not settle or on_wait is None
                self.proc.send_signal(signal.SIGTERM)
                while not self._exited(HURRY_EVERY):
                    if not settle:
                        self.proc.send_signal(signal.SIGTERM)
                    elif not told:
                        rows = self.in_flight()
                        if rows:
                            on_wait(rows)
                            told = True
        finally:
            self._close_pipe()
            if self._client is not None:
                self._client.close()
                self._client = None

    def _exited(self, within: float) -> bool:
        try:
            self.proc.wait(within)
            return True
        except subprocess.TimeoutExpired:
            return False

    def _close_pipe(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
