"""The event stream of a novatui service (GET /novatui/events, Server-Sent Events) read on one
background thread and turned into core.events objects for an HttpClient's listeners.

A broken stream is said once (ServiceLost) and reconnected with a short backoff; once the
service answers again come ServiceBack and the fresh Snapshot, so a console can drop rows
that went away meanwhile."""
from __future__ import annotations

import json
import socket
import threading
from typing import Callable, Iterable, Iterator

from .events import ServiceBack, ServiceLost, Snapshot, event_from_dict
from .http_wire import Answer, TransportError, Wire

EVENTS_PATH = "/novatui/events"
BACKOFF_FIRST, BACKOFF_MOST = 0.2, 2.0
# The service sends a keepalive comment every 15 s: a stream silent for longer is dead.
READ_TIMEOUT = 40.0


def sse_messages(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(event, data) for each message of a Server-Sent Events stream; comments skipped."""
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)


def decode(event: str, data: str) -> list[object]:
    """One SSE message as core.events objects."""
    body = json.loads(data)
    if event == "snapshot":
        return [Snapshot(body["instances"], body["hosts"])]
    if event == "batch":
        return [e for e in map(event_from_dict, body) if e is not None]
    return []


def reason_of(exc: Exception, url: str) -> str:
    """A connection failure in one line that names the service."""
    cause = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    detail = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
    return f"cannot reach the novatui service at {url}: {detail}"


def lines_of(response) -> Iterator[str]:
    """The lines of a streamed body, without their ends."""
    while line := response.readline():
        yield line.decode("utf-8").rstrip("\r\n")


class EventStream:
    """One thread that reads the stream through `wire` (on a connection of its own) and
    calls `emit` with every event, in order."""

    def __init__(self, wire: Wire, url: str, emit: Callable[[object], None]):
        self.wire, self.url, self.emit = wire, url, emit
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._answered = False   # the current connection has delivered a message
        self._thread = threading.Thread(target=self._run, name="novatui-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Ends the stream without waiting on the service: the open socket is shut down,
        which wakes the reading thread at once."""
        self._stop.set()
        with self._lock:
            sock = self._socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        backoff, lost = BACKOFF_FIRST, False
        while not self._stop.is_set():
            self._answered = False
            try:
                reason = self._read(lost)
            except TransportError as e:
                reason = reason_of(e, self.url)
            except (ValueError, KeyError, TypeError) as e:
                reason = f"a bad event from {self.url}: {type(e).__name__}: {e}"
            if self._stop.is_set():
                return
            if self._answered:  # it was back: the next failure is said, and backs off anew
                backoff, lost = BACKOFF_FIRST, False
            if not lost:
                lost = True
                self.emit(ServiceLost(reason))
            if self._stop.wait(backoff):
                return
            backoff = min(BACKOFF_MOST, backoff * 2)

    def _read(self, was_lost: bool) -> str:
        """Reads until the stream ends; why it ended."""
        with self.wire.stream(EVENTS_PATH, READ_TIMEOUT) as (response, sock):
            with self._lock:
                self._socket = sock
            if self._stop.is_set():   # stop() came before the socket was known
                return f"the event stream from {self.url} was stopped"
            try:
                if response.status != 200:
                    answer = response.answer("GET", self.url)
                    return (f"the novatui service at {self.url} refused the event stream: "
                            f"HTTP {answer.status_code} {_message(answer)}")
                for event, data in sse_messages(lines_of(response)):
                    decoded = decode(event, data)
                    if not self._answered and was_lost:
                        self.emit(ServiceBack(self.url))
                    self._answered = True
                    for e in decoded:
                        self.emit(e)
                    if self._stop.is_set():
                        break
                return f"the novatui service at {self.url} ended the event stream"
            finally:
                with self._lock:
                    self._socket = None


def _message(response: Answer) -> str:
    try:
        body = response.json()
        return next(iter(body.values()))["message"]
    except (ValueError, TypeError, KeyError, StopIteration, AttributeError):
        return response.reason_phrase
