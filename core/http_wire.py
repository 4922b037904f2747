"""HTTP/1.1 to one novatui service, on the standard library's http.client: keep-alive
connections over a Unix socket or TCP (https verified against the system's CAs), pooled so
that any thread may ask, and a stream (the event stream) on a connection of its own.

Why not httpx, which this replaced: per request it cost 0.76 ms of CPU against 0.20 ms here
(a script's burst makes two requests an action: the action and its long poll), and importing
it was 50 ms of every CLI call's start-up. http.client parses; this file only pools, times
out and says what failed."""
from __future__ import annotations

import http.client
import json as jsonlib
import select
import socket
import threading
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlencode, urlsplit

MAX_IDLE = 8   # kept-alive connections; a thread that finds none idle opens one
# A kept-alive connection the service closed meanwhile fails on its next request: GET is
# asked again once on a fresh one (the others may have been carried out, so they are not).
RETRIED = frozenset({"GET"})
TransportError = (OSError, http.client.HTTPException)


class Answer:
    """A response, read whole (the subset of httpx.Response the client used)."""

    def __init__(self, method: str, url: str, response: http.client.HTTPResponse, body: bytes):
        self.method, self.url = method, url
        self.status_code, self.reason_phrase = response.status, response.reason
        self.headers = response.headers   # case-insensitive get()
        self.content = body

    def json(self):
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(self.headers.get_content_charset() or "utf-8")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """An idle connection with something to read has been closed by the service (or holds
    bytes nobody asked for): either way it cannot carry a request."""
    if conn.sock is None:
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))


class Wire:
    def __init__(self, url: str, socket_path: str | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 60.0,
                 connect_timeout: float = 5.0):
        self.socket_path = socket_path
        self.base = "http://localhost" if socket_path else url.rstrip("/")
        parts = urlsplit(self.base)
        self._tls = parts.scheme.lower() == "https"
        self._host, self._port = parts.hostname or "localhost", parts.port
        self._prefix = parts.path.rstrip("/")
        self.origin = f"{parts.scheme}://{parts.netloc}"   # an Answer's URL: origin + target
        self.headers = dict(headers or {})
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._tls_context = None

    # -- connections -------------------------------------------------------------------
    def _connect(self) -> http.client.HTTPConnection:
        if self.socket_path:
            conn = _UnixConnection(self.socket_path, self.connect_timeout)
        elif self._tls:
            if self._tls_context is None:
                import ssl   # only for https: its CA loading is not a Unix socket's cost
                self._tls_context = ssl.create_default_context()
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.connect_timeout,
                                               context=self._tls_context)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self.connect_timeout)
        conn.connect()
        return conn

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (True: reused) or a new one."""
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not _dropped(conn):
                    return conn, True
                conn.close()
        return self._connect(), False

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- requests ----------------------------------------------------------------------
    def url_of(self, path: str, params: dict | None = None) -> str:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return self._prefix + path + ("?" + urlencode(query) if query else "")

    def request(self, method: str, path: str, *, params: dict | None = None, json=None,
                content=None, headers: dict | None = None,
                timeout: float | None = ...) -> Answer:
        """timeout: seconds a read may wait (None: no limit; default: the Wire's)."""
        target = self.url_of(path, params)
        sent = {**self.headers, **(headers or {})}
        body = content
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            sent["Content-Type"] = "application/json"
        read_timeout = self.timeout if timeout is ... else timeout
        conn, reused = self._take()
        while True:
            try:
                conn.sock.settimeout(read_timeout)
                conn.request(method, target, body=body, headers=sent)
                response = conn.getresponse()
                data = response.read()
            except TransportError as e:
                conn.close()
                # once, on a fresh connection; a timeout is the service's answer, not a
                # connection it closed
                if not reused or method not in RETRIED or isinstance(e, TimeoutError):
                    raise
                conn, reused = self._connect(), False
                continue
            if response.will_close:
                conn.close()
            else:
                self._give_back(conn)
            return Answer(method, self.origin + target, response, data)

    @contextmanager
    def stream(self, path: str, read_timeout: float
               ) -> Iterator[tuple[http.client.HTTPResponse, socket.socket]]:
        """GET path on a connection of its own: the response, to read line by line, and its
        socket, whose shutdown() ends a read that waits."""
        conn = self._connect()
        try:
            conn.sock.settimeout(read_timeout)
            conn.request("GET", self.url_of(path), headers=self.headers)
            sock = conn.sock   # getresponse() lets go of it when the answer ends the connection
            yield conn.getresponse(), sock
        finally:
            conn.close()
