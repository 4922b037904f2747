"""The real console in a real terminal: a tmux pane on a private tmux server, typed into with
send-keys and read with capture-pane, as a user sees it. Also the /proc readings the fleet
harness takes of the processes behind a pane (CPU seconds, RSS)."""
from __future__ import annotations

import os
import shlex
import subprocess
import time

SERVER = ("tmux", "-L", f"novatui-bench-{os.getpid()}", "-f", "/dev/null")
TICK = os.sysconf("SC_CLK_TCK")


def _tmux(*args: str) -> str:
    return subprocess.run([*SERVER, *args], check=True, capture_output=True, text=True).stdout


class Pane:
    """One tmux session of one pane running `argv` (exec'd: the pane's pid is the program's)."""

    def __init__(self, name: str, argv: list[str], cwd: str, width: int = 200, height: int = 50,
                 env: dict | None = None):
        self.name, self.argv, self.cwd = name, argv, cwd
        self.width, self.height, self.env = width, height, env or {}
        self.pid: int | None = None

    def start(self) -> None:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        cmd = f"exec env {env} TERM=xterm-256color {shlex.join(self.argv)}"
        _tmux("new-session", "-d", "-s", self.name, "-x", str(self.width), "-y", str(self.height),
              "-c", self.cwd, cmd)
        self.pid = int(_tmux("display-message", "-p", "-t", self.name, "#{pane_pid}").strip())

    def screen(self) -> str:
        return _tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        _tmux("send-keys", "-t", self.name, *keys)

    def wait(self, predicate, limit: float = 30.0, since: float | None = None) -> tuple[float, str]:
        """Poll the screen until predicate(screen) is true: (seconds since `since`, screen)."""
        since = time.perf_counter() if since is None else since
        while True:
            text = self.screen()
            if predicate(text):
                return time.perf_counter() - since, text
            if time.perf_counter() - since > limit:
                raise TimeoutError(f"{self.name}: the screen never showed it; last screen:\n{text}")
            time.sleep(0.002)

    def close(self) -> None:
        subprocess.run([*SERVER, "kill-session", "-t", self.name], capture_output=True)
        if self.pid:
            reap(self.pid)


def kill_server() -> None:
    subprocess.run([*SERVER, "kill-server"], capture_output=True)


def reap(pid: int, limit: float = 30.0) -> None:
    """Wait for a process to exit (a pane's program: tmux sent it SIGHUP), then kill it if
    it lingers."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, its threads included."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def settle(pids: list[int], below: float = 2.0, quiet: int = 3, limit: float = 60.0) -> float:
    """Seconds until the processes used less than `below` % of a core together in each of
    `quiet` seconds in a row: their start-up work done (at 5,000 instances on a slow
    machine, several seconds after the table shows), and what follows the keys the harness
    pressed before (a column that shrinks two to four seconds after rows scrolled into
    view showed shorter ages); `limit` at most."""
    t = time.perf_counter()
    calm = 0
    while time.perf_counter() - t < limit and calm < quiet:
        calm = calm + 1 if idle_cpu(pids, 1.0) < below else 0
    return time.perf_counter() - t


def idle_cpu(pids: list[int], seconds: float = 10.0) -> float:
    """Percent of one core the processes used together over `seconds`."""
    before = sum(cpu_seconds(p) for p in pids)
    time.sleep(seconds)
    return 100 * (sum(cpu_seconds(p) for p in pids) - before) / seconds
