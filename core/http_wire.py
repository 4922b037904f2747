"""HTTP/1.1 to one novatui service, on h11 (python-hyper's sans-I/O protocol): keep-alive
connections over a Unix socket or TCP (https verified against the system's CAs), pooled so
that any thread may ask, and a stream (the event stream) on a connection of its own.

Why h11: it parses and frames (chunked bodies, keep-alive, what may follow what), and this
file only moves bytes, pools, times out and says what failed. httpx, the first client, cost
0.76 ms of CPU per request and 50 ms of every CLI call's start-up to import; the standard
library's http.client, the second, 0.20 ms, but 20-30 ms of start-up (it imports the email
parser and ssl); h11 costs next to nothing to import."""
from __future__ import annotations

import json as jsonlib
import select
import socket
import threading
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlencode, urlsplit

import h11

MAX_IDLE = 8   # kept-alive connections; a thread that finds none idle opens one
# A kept-alive connection the service closed meanwhile fails on its next request: GET is
# asked again once on a fresh one (the others may have been carried out, so they are not).
RETRIED = frozenset({"GET"})
TransportError = (OSError, h11.ProtocolError)
RECEIVE = 65536


class Headers:
    """A response's headers, looked up by name in any case."""

    def __init__(self, pairs) -> None:
        self._by_name = {name.decode("latin-1").lower(): value.decode("latin-1")
                         for name, value in pairs}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._by_name.get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return self._by_name[name.lower()]

    def charset(self) -> str | None:
        for param in (self.get("content-type") or "").split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"')
        return None


class Answer:
    """A response, read whole (the subset of httpx.Response the client used)."""

    def __init__(self, method: str, url: str, response: h11.Response, body: bytes):
        self.method, self.url = method, url
        self.status_code = response.status_code
        self.reason_phrase = response.reason.decode("latin-1")
        self.headers = Headers(response.headers)
        self.content = body

    def json(self):
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(self.headers.charset() or "utf-8")


class Connection:
    """A socket and its h11 state: one request and its response at a time."""

    def __init__(self, sock: socket.socket, host: str):
        self.sock, self.host = sock, host
        self.h11 = h11.Connection(h11.CLIENT)
        self.answered: h11.Response | None = None
        self._line = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, method: str, target: str, headers: dict[str, str], body) -> None:
        fields = [("Host", self.host), *headers.items()]
        if body is not None and not any(k.lower() == "content-length" for k in headers):
            fields.append(("Content-Length", str(len(body))) if isinstance(body, bytes)
                          else ("Transfer-Encoding", "chunked"))
        self.sock.sendall(self.h11.send(h11.Request(method=method, target=target,
                                                    headers=fields)))
        for chunk in ([body] if isinstance(body, bytes) else body or ()):
            if chunk:
                self.sock.sendall(self.h11.send(h11.Data(data=chunk)))
        self.sock.sendall(self.h11.send(h11.EndOfMessage()))

    def _next(self):
        while (event := self.h11.next_event()) is h11.NEED_DATA:
            self.h11.receive_data(self.sock.recv(RECEIVE))   # b"": the service hung up
        return event

    @property
    def status(self) -> int:
        return self.answered.status_code

    def response(self) -> h11.Response:
        while not isinstance(event := self._next(), h11.Response):
            pass   # 1xx
        self.answered = event
        return event

    def answer(self, method: str, url: str) -> Answer:
        """The response, with the rest of its body read whole."""
        return Answer(method, url, self.answered, self.read())

    def read(self) -> bytes:
        """The rest of the body."""
        parts = [self._line]
        self._line = b""
        while isinstance(event := self._next(), h11.Data):
            parts.append(event.data)
        return b"".join(parts)

    def readline(self) -> bytes:
        """The next line of the body, with its end; b"" at the body's end."""
        while b"\n" not in self._line:
            event = self._next()
            if not isinstance(event, h11.Data):
                line, self._line = self._line, b""
                return line
            self._line += event.data
        line, _, self._line = self._line.partition(b"\n")
        return line + b"\n"

    def reusable(self) -> bool:
        """After a whole answer: ready for the next request on the same socket."""
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            return True
        return False


def _dropped(conn: Connection) -> bool:
    """An idle connection with something to read has been closed by the service (or holds
    bytes nobody asked for): either way it cannot carry a request."""
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
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if self._tls else 80)
        self._netloc = parts.netloc or "localhost"
        self._prefix = parts.path.rstrip("/")
        self.origin = f"{parts.scheme}://{parts.netloc}"   # an Answer's URL: origin + target
        self.headers = dict(headers or {})
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._tls_context = None

    # -- connections -------------------------------------------------------------------
    def _connect(self) -> Connection:
        if self.socket_path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.connect_timeout)
                sock.connect(self.socket_path)
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection((self._host, self._port), self.connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls:
                if self._tls_context is None:
                    import ssl   # only for https: its CA loading is not a Unix socket's cost
                    self._tls_context = ssl.create_default_context()
                try:
                    sock = self._tls_context.wrap_socket(sock, server_hostname=self._host)
                except OSError:
                    sock.close()
                    raise
        return Connection(sock, self._netloc)

    def _take(self) -> tuple[Connection, bool]:
        """An idle connection (True: reused) or a new one."""
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not _dropped(conn):
                    return conn, True
                conn.close()
        return self._connect(), False

    def _give_back(self, conn: Connection) -> None:
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
                conn.send(method, target, sent, body)
                conn.response()
                answer = conn.answer(method, self.origin + target)
            except TransportError as e:
                conn.close()
                # once, on a fresh connection; a timeout is the service's answer, not a
                # connection it closed
                if not reused or method not in RETRIED or isinstance(e, TimeoutError):
                    raise
                conn, reused = self._connect(), False
                continue
            if conn.reusable():
                self._give_back(conn)
            else:
                conn.close()
            return answer

    @contextmanager
    def stream(self, path: str, read_timeout: float
               ) -> Iterator[tuple[Connection, socket.socket]]:
        """GET path on a connection of its own: the connection, whose status is the
        answer's and whose readline() reads its body, and its socket, whose shutdown()
        ends a read that waits."""
        conn = self._connect()
        try:
            conn.sock.settimeout(read_timeout)
            conn.send("GET", self.url_of(path), self.headers, None)
            conn.response()
            yield conn, conn.sock
        finally:
            conn.close()
