"""novatui processes as an operator runs them (a service, a compute agent), each with its
output in a file of its own, and RabbitMQ's durable queues emptied between runs: what the
distributed tier (tests/distributed) and bench/deployment.py both start and stop."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from core.service import wait_for_service
from tests.invariants import ROOT


def process_env(**extra: str) -> dict:
    """Ours, without a crash hook or anything that points a novatui process elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NOVATUI_CRASH_")
           and k not in ("NOVATUI_URL", "NOVATUI_CONFIG", "NOVATUI_STATE_DIR")}
    return {**env, **extra}


class NovatuiProcess:
    """`novatui --config C --state-dir S --init ARGS...`, its output in `out`."""

    def __init__(self, name: str, config_path: Path, state_dir: Path, *args: str, out: Path,
                 env: dict | None = None):
        self.name, self.state_dir, self.out = name, Path(state_dir), out
        self.cmd = [sys.executable, "-m", "core.cli", "--config", str(config_path),
                    "--state-dir", str(self.state_dir), "--init", *args]
        with out.open("ab") as f:
            self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=env or process_env(),
                                         stdout=f, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_serving(self, timeout: float) -> str:
        """Until this process is its state dir's service and answers: its socket's path."""
        found = wait_for_service(self.state_dir, timeout, self.proc)
        if found is None and not self.alive():
            raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.tail()}")
        if found is None:
            raise TimeoutError(f"{self.name} did not answer within {timeout:.0f} s:\n{self.tail()}")
        return found["socket"]

    def kill9(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (it settles what it carries first), then SIGKILL after `timeout`."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def purge_queues(amqp_url: str, topics: list[str]) -> None:
    """The casts an earlier run left in RabbitMQ's durable queues go (their ids name another
    run's rows)."""
    import kombu
    with kombu.Connection(amqp_url, connect_timeout=5) as conn:
        channel = conn.channel()
        for topic in topics:
            try:
                channel.queue_delete(topic)
            except conn.channel_errors:   # none such: the channel closes; open another
                channel = conn.channel()
