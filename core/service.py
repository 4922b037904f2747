"""A novatui service: an engine (API, conductor/scheduler, a compute service per host and
their periodic tasks) behind the HTTP API, on the state dir's Unix socket (0600) and
optionally a TCP address. `novatui serve` runs one in the foreground; a console with no
service to attach to starts one as its child process (core/console_service.py), which serves
other clients while the console runs.

<state>/service.json says where it listens: {"pid", "socket", "url"} (url is None without
--listen). A client finds the service of a state dir there, and checks that it answers.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Callable

from .errors import NovaError

SERVICE_FILE = "service.json"
SOCKET_FILE = "api.sock"
DEFAULT_PORT = 8774
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the final NUL


class ServiceError(NovaError):
    code = 409


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT (or [v6]:PORT, or :PORT for 127.0.0.1), one clear line when it is not."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not sep or not (port.isascii() and port.isdigit() and len(port) <= 5) \
            or not 0 < int(port) < 65536:
        raise ServiceError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:{DEFAULT_PORT}")
    return host, int(port)


def _answers(socket_path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(socket_path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def find_service(state_dir: Path) -> dict | None:
    """The running service of this state dir: {"pid", "socket", "url"}, or None. A file
    left by a service that died (kill -9) is ignored."""
    try:
        found = json.loads((Path(state_dir) / SERVICE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or not isinstance(found.get("socket"), str):
        return None
    return found if _answers(found["socket"]) else None


def wait_for_service(state_dir: Path, timeout: float, proc=None, poll: float = 0.05
                     ) -> dict | None:
    """Until the state dir's service answers (with `proc`, a subprocess.Popen: until that
    process is the one that answers): its service.json. None when `proc` exits first or
    the timeout passes (proc.poll() tells which)."""
    deadline = time.monotonic() + timeout
    while True:
        found = find_service(state_dir)
        if found is not None and (proc is None or found.get("pid") == proc.pid):
            return found
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            return None
        time.sleep(poll)


def check_no_service(state_dir: Path) -> None:
    other = find_service(state_dir)
    if other is not None:
        raise ServiceError(f"a novatui service already runs for {state_dir} "
                           f"(pid {other.get('pid')}); attach to it instead")


class Service:
    """The HTTP server on a thread of its own (its own asyncio loop) beside the engine's
    threads. start() returns once it listens and service.json is written."""

    def __init__(self, engine, listen: tuple[str, int] | None = None,
                 tcp_needs_token: bool = False, tokens: dict[str, str] | None = None):
        from .osapi.auth import is_loopback
        if listen is not None and not is_loopback(listen[0]) and not (tcp_needs_token and tokens):
            raise ServiceError(f"refusing to listen on {listen[0]}:{listen[1]} without a token: "
                               "only loopback and the Unix socket go without one")
        self.engine = engine
        self.listen = listen
        self.tcp_needs_token = tcp_needs_token
        self.tokens = tokens or {}
        self.state_dir = Path(engine.state_dir)
        self.socket_path = self.state_dir / SOCKET_FILE
        self.url = None if listen is None else \
            f"http://{'[' + listen[0] + ']' if ':' in listen[0] else listen[0]}:{listen[1]}"
        self._loop = None   # the HTTP thread's asyncio loop
        self._runner = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def socket_url(self) -> str:
        return f"unix:{self.socket_path}"

    def start(self) -> "Service":
        if len(str(self.socket_path).encode()) > MAX_SOCKET_PATH:
            raise ServiceError(f"state dir {self.state_dir}: its path is too long for the "
                               f"API's Unix socket ({SOCKET_FILE}, at most {MAX_SOCKET_PATH} bytes)")
        check_no_service(self.state_dir)
        self._thread = threading.Thread(target=self._run, name="novatui-http", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error
        self._write_service_file()
        return self

    def _run(self) -> None:
        import asyncio   # here: a CLI that only finds the service does not pay for it

        import uvloop   # libuv's loop: a third less of the HTTP thread's CPU in a burst
        self._loop = uvloop.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as e:  # noqa: BLE001 - handed to start()'s caller
            self._error = self._describe(e)
            if self._runner is not None:   # the socket may be bound already: let it go
                self._loop.run_until_complete(self._runner.cleanup())
                self.socket_path.unlink(missing_ok=True)
            self._loop.close()
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def _describe(self, e: BaseException) -> BaseException:
        if isinstance(e, OSError) and self.listen is not None:
            return ServiceError(f"cannot listen on {self.listen[0]}:{self.listen[1]}: "
                                f"{e.strerror or e}")
        return e

    async def _serve(self) -> None:
        from aiohttp import web

        from .osapi.app import make_app
        from .osapi.auth import Auth
        app = make_app(self.engine, Auth(self.tokens, self.tcp_needs_token))
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=2.0)
        await self._runner.setup()
        if self.socket_path.exists() or self.socket_path.is_symlink():
            self.socket_path.unlink()   # a dead service's (find_service said none answers)
        # In the 0700 state dir, under novatui's umask 077: no one else can reach it even
        # before the chmod makes it 0600.
        await web.UnixSite(self._runner, str(self.socket_path)).start()
        os.chmod(self.socket_path, 0o600)
        if self.listen is not None:
            await web.TCPSite(self._runner, self.listen[0], self.listen[1],
                              reuse_address=True).start()

    def _write_service_file(self) -> None:
        path = self.state_dir / SERVICE_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid(), "socket": str(self.socket_path), "url": self.url}, f)
        os.replace(tmp, path)

    def in_flight(self) -> list[dict]:
        return self.engine.in_flight()

    def stop(self, settle: bool = True, settle_timeout: float = 600.0,
             on_wait: Callable[[list[dict]], None] | None = None) -> None:
        """Settle while still serving (clients watch the moves end), then stop listening,
        then stop the engine."""
        if settle and self.engine.started:
            self.engine.settle(settle_timeout, on_wait)
        self._stop_http()
        self.engine.stop(settle=False)

    def _stop_http(self) -> None:
        if self._loop is None or self._thread is None:
            return
        for name in (SERVICE_FILE, SOCKET_FILE):
            try:
                (self.state_dir / name).unlink()
            except FileNotFoundError:
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
