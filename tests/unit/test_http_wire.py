"""core/http_wire.py against real servers (TCP and a Unix socket): connections are kept
alive and pooled, one the service dropped is replaced, threads do not mix their answers,
timeouts bound a read, and a stream's socket can be shut down from another thread."""
from __future__ import annotations

import json
import shutil
import socket
import socketserver
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from core.http_wire import MAX_IDLE, TransportError, Wire


class Handler(BaseHTTPRequestHandler):
    """Echoes the request as JSON; a few paths misbehave the way a service may."""
    protocol_version = "HTTP/1.1"   # keep-alive

    def log_message(self, *args):
        pass

    def handle(self):
        """Counts the connections: accepted ever, and open now."""
        self.served_here = 0
        with self.server.lock:
            self.server.accepted, self.server.open = self.server.accepted + 1, self.server.open + 1
        try:
            super().handle()
        finally:
            with self.server.lock:
                self.server.open -= 1

    def do_GET(self):
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.seen.append(path)
        self.served_here += 1
        time.sleep(float(parse_qs(query).get("sleep", ["0"])[0]))
        if path == "/lost-on-reuse" and self.served_here > 1:
            self.close_connection = True   # hangs up without answering, the request read
            return
        if path == "/events":
            return self.events(chunked="chunked" in query)
        reply, kind = json.dumps({"path": path, "query": query, "body": body.decode(), **{
            k: self.headers.get(k) for k in ("Content-Type", "Host", "X-Token", "X-Extra")}
        }).encode(), "application/json"
        if path == "/latin1":
            reply, kind = "café".encode("latin-1"), "text/plain; charset=iso-8859-1"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("X-Echo", path)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
        if path == "/answer-then-close":
            self.close_connection = True   # closes although the answer said keep-alive

    do_POST = do_GET

    def events(self, chunked: bool):
        """Two lines, then silence with the connection open: an event stream between events."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in (b"data: 1\n", b"data: 2\n"):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line) if chunked else line)
            time.sleep(0.05)
        self.server.stopping.wait(5)
        self.close_connection = True


class State:
    daemon_threads = True
    request_queue_size = 64   # 16 threads connect at once

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.lock, self.stopping = threading.Lock(), threading.Event()
        self.accepted = self.open = 0
        self.seen: list[str] = []

    def handle_error(self, request, client_address):
        pass   # a client that timed out or hung up


class TcpServer(State, ThreadingHTTPServer):
    pass


class UnixServer(State, socketserver.ThreadingUnixStreamServer):
    pass


def running(server):
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.stopping.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def server():
    yield from running(TcpServer(("127.0.0.1", 0), Handler))


@pytest.fixture
def wire(server):
    wire = Wire(f"http://127.0.0.1:{server.server_port}", timeout=5.0)
    yield wire
    wire.close()


@pytest.fixture
def short_dir():
    """A Unix socket's path must fit in 108 bytes: pytest's tmp_path may not."""
    path = Path(tempfile.mkdtemp(prefix="wire", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def wait_for(predicate, seconds=1.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_sequential_requests_share_one_kept_alive_connection(server, wire):
    for i in range(5):
        assert wire.request("GET", f"/n{i}").json()["path"] == f"/n{i}"
    assert server.accepted == 1 and len(wire._idle) == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_connection_the_service_closed_while_idle_is_replaced(server, wire, method):
    """The service closes an idle kept-alive socket unannounced: the next request goes on a
    fresh connection (a POST too: it is found closed before it is sent, not retried)."""
    assert wire.request("GET", "/answer-then-close").status_code == 200
    assert wait_for(lambda: server.open == 0)
    assert wire.request(method, "/after").json()["path"] == "/after"
    assert server.accepted == 2


def test_a_get_lost_on_a_reused_connection_is_asked_again_but_a_post_is_not(server, wire):
    """The service may hang up just as a request arrives: a GET is safe to repeat, a POST
    may have been carried out."""
    wire.request("GET", "/first")
    assert wire.request("GET", "/lost-on-reuse").json()["path"] == "/lost-on-reuse"
    assert server.seen.count("/lost-on-reuse") == 2 and server.accepted == 2
    wire.request("POST", "/first")   # the pooled connection is reused by the POST
    with pytest.raises(TransportError):
        wire.request("POST", "/lost-on-reuse")
    assert server.seen.count("/lost-on-reuse") == 3


def test_threads_at_once_get_their_own_answers_and_the_pool_stays_bounded(server, wire):
    start = threading.Barrier(16)

    def worker(t):
        start.wait()
        for i in range(20):
            answer = wire.request("GET", f"/t{t}/{i}", params={"sleep": "0.002"})
            assert answer.json()["path"] == f"/t{t}/{i}" == answer.headers["X-Echo"]
        return t

    with ThreadPoolExecutor(16) as pool:
        assert sorted(pool.map(worker, range(16))) == list(range(16))
    assert server.accepted > MAX_IDLE   # more were open at once than may stay idle
    assert 0 < len(wire._idle) <= MAX_IDLE


def test_json_body_params_headers_and_the_answer(server):
    wire = Wire(f"http://127.0.0.1:{server.server_port}/", headers={"X-Token": "t"})
    answer = wire.request("POST", "/x", json={"k": [1, "é"]}, params={"a": "b c", "skip": None},
                          headers={"X-Extra": "1"})
    seen = answer.json()
    assert seen["Content-Type"] == "application/json"
    assert seen["body"] == '{"k":[1,"\\u00e9"]}'
    assert (seen["query"], seen["X-Token"], seen["X-Extra"]) == ("a=b+c", "t", "1")
    assert (answer.status_code, answer.reason_phrase, answer.method) == (200, "OK", "POST")
    assert answer.headers.get("x-ECHO") == "/x"
    assert answer.url == f"http://127.0.0.1:{server.server_port}/x?a=b+c"
    assert answer.text == answer.content.decode()
    assert wire.request("GET", "/latin1").text == "café"   # the charset the answer names
    wire.close()


def test_a_base_url_with_a_path_prefixes_requests_once(server):
    base = f"http://127.0.0.1:{server.server_port}/api"
    wire = Wire(base)
    answer = wire.request("GET", "/x")
    wire.close()
    assert answer.json()["path"] == "/api/x"
    assert answer.url == base + "/x"


def test_a_timeout_bounds_a_read_and_none_lifts_the_wires_own(server):
    wire = Wire(f"http://127.0.0.1:{server.server_port}", timeout=0.2)
    started = time.monotonic()
    with pytest.raises(TransportError):
        wire.request("GET", "/slow", params={"sleep": "2"}, timeout=0.3)
    assert time.monotonic() - started < 1.0
    with pytest.raises(TransportError):   # by default, the Wire's
        wire.request("GET", "/slow", params={"sleep": "0.5"})
    assert wire.request("GET", "/slow", params={"sleep": "0.5"}, timeout=None).status_code == 200
    wire.close()


def test_a_get_that_times_out_on_a_reused_connection_is_not_asked_again(server, wire):
    wire.request("GET", "/prime")   # the next request reuses this connection
    started = time.monotonic()
    with pytest.raises(TransportError):
        wire.request("GET", "/slow", params={"sleep": "1"}, timeout=0.3)
    assert (server.seen.count("/slow"), time.monotonic() - started < 0.5) == (1, True)


def test_over_a_unix_socket(short_dir):
    for server in running(UnixServer(str(short_dir / "api.sock"), Handler)):
        wire = Wire("unix-label", socket_path=str(short_dir / "api.sock"))
        answer = wire.request("GET", "/u", params={"q": 1})
        assert answer.json()["Host"] == "localhost" and answer.url == "http://localhost/u?q=1"
        wire.request("GET", "/again")
        assert server.accepted == 1
        wire.close()


def test_a_unix_socket_nobody_listens_on_is_a_transport_error(short_dir):
    with pytest.raises(TransportError) as missing:
        Wire("unix-label", socket_path=str(short_dir / "none.sock")).request("GET", "/")
    assert isinstance(missing.value, FileNotFoundError)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(short_dir / "stale.sock"))   # a file, but no listener: a service gone
    stale.close()
    with pytest.raises(TransportError) as refused:
        Wire("unix-label", socket_path=str(short_dir / "stale.sock")).request("GET", "/")
    assert isinstance(refused.value, ConnectionRefusedError)


@pytest.mark.parametrize("query", ["", "?chunked=1"], ids=["until-close", "chunked"])
def test_a_stream_reads_lines_and_a_shutdown_from_another_thread_ends_it(server, wire, query):
    """EventStream.stop() ends a read that waits by shutting the stream's socket down."""
    with wire.stream("/events" + query, 5.0) as (response, sock):
        assert response.status == 200
        assert [response.readline(), response.readline()] == [b"data: 1\n", b"data: 2\n"]
        threading.Timer(0.1, sock.shutdown, (socket.SHUT_RDWR,)).start()
        started = time.monotonic()
        try:
            rest = response.readline()
        except TransportError:
            rest = b""
        assert rest == b"" and 0.05 < time.monotonic() - started < 1.0
    assert sock.fileno() == -1   # closed with the block


def test_a_stream_read_times_out(server, wire):
    """A stream silent for longer than its read timeout is taken for dead."""
    with wire.stream("/events", 0.2) as (response, _):
        response.readline(), response.readline()
        started = time.monotonic()
        with pytest.raises(TransportError):
            response.readline()
        assert time.monotonic() - started < 1.0


def test_close_closes_idle_connections_and_those_given_back_later(server, wire):
    with ThreadPoolExecutor(2) as pool:   # two at once: two connections, then both idle
        list(pool.map(lambda _: wire.request("GET", "/", params={"sleep": "0.2"}), range(2)))
    assert len(wire._idle) == 2
    with ThreadPoolExecutor(1) as pool:
        late = pool.submit(wire.request, "GET", "/late", params={"sleep": "0.3"})
        assert wait_for(lambda: "/late" in server.seen)   # it took one of the two
        socks = [conn.sock for conn in wire._idle]
        assert len(socks) == 1
        wire.close()
        assert wire._idle == [] and all(s.fileno() == -1 for s in socks)
        assert late.result().status_code == 200   # finished after close(): not pooled
    assert wire._idle == [] and wait_for(lambda: server.open == 0)
