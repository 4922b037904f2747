"""The message bus: Nova's RPC cast. Embedded (no [messaging] transport_url), the store's
mailbox table carries it, as here; with a broker, core/bus_broker.py.

A cast is a row; a consumer claims the oldest row of its topic, handles it and deletes it.
Casts inside one process wake the topic's consumer at once; casts from another process that
shares the store (a second console, a script, an agent's given-back claim) are found by the
process's one look at the store, once a LOOK_SECONDS, which wakes their consumers: the
consumers themselves wait without a timer, so an idle process of fifty hosts does not wake
fifty threads a second. Unclaimed messages outlive a restart, so submitted work still happens.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Callable

from .store import Store

POLL_SECONDS = 1.0   # a consume's default wait (the broker's bus: see core/bus_broker.py)
LOOK_SECONDS = 0.9   # how stale the shared look at the store's unclaimed topics may be
IDLE_WAIT_SECONDS = 60.0   # a consumer with nothing else to do (casts, wakes, the look wake it)


@dataclass(frozen=True)
class Message:
    id: int
    topic: str
    method: str
    request_id: str
    args: dict


def compute_topic(host: str) -> str:
    return f"compute.{host}"


CONDUCTOR = "conductor"


class MessageBus:
    """The embedded bus: the store's mailbox table is both the ledger and the transport
    (see core/bus_broker.py for the broker's)."""

    transport = "store"

    def __init__(self, store: Store, owner: str | None = None):
        self.store = store
        self.owner = owner or str(os.getpid())
        self._wakeups: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._busy: set[str] = set()       # topics whose last claim saw more messages behind
        self._cast_to: set[str] = set()    # topics cast to (committed) or woken since their last claim
        self._look_lock = threading.Lock()
        self._unclaimed_topics: set[str] = set()
        self._looker: threading.Thread | None = None
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()

    def _event(self, topic: str) -> threading.Event:
        event = self._wakeups.get(topic)  # made once per topic, not once per message
        if event is None:
            with self._lock:
                event = self._wakeups.setdefault(topic, threading.Event())
        return event

    def cast(self, topic: str, method: str, request_id: str, **args) -> None:
        payload = {"method": method, "request_id": request_id, "args": args}
        self._sent(topic, self.store.put_message(topic, payload), payload)

    def _sent(self, topic: str, message_id: int | None, payload: dict) -> None:
        """The cast's row is written, in the caller's transaction maybe: its consumer is
        told once that commits (before, it could not claim the row)."""
        self.store.after_commit(lambda: self._signal(topic))

    def _signal(self, topic: str) -> None:
        self._cast_to.add(topic)  # before the event is set: see consume
        self._event(topic).set()

    def serve_calls(self, topic: str, answer) -> None:
        """Calls need a broker: in one process, callers use the compute service directly."""

    def call(self, topic: str, method: str, timeout: float, **args):
        return None

    def notify(self, item: dict) -> None:
        """A notification for the other processes: the store's consumers have none (they
        read the store, and the log files)."""

    def consume(self, topic: str, timeout: float = POLL_SECONDS) -> Message | None:
        """The oldest message of the topic, claimed; None after the timeout. A claim is
        tried only when there may be one: a cast of this process was committed, the last
        claim saw more behind it (a burst), or the process's shared look at the store saw
        one (casts of other processes, and messages given back), or a wake()."""
        if self._looker is None:
            self._start_looking()
        wakeup = self._event(topic)
        if not self._may_have(topic):
            wakeup.wait(timeout)
            wakeup.clear()  # a signal that comes now marks its topic first: seen below
            if not self._may_have(topic):
                return None
        wakeup.clear()
        self._cast_to.discard(topic)  # a cast committed before this claims is in it
        claimed = self.store.claim_next(topic, self.owner)
        more = claimed is not None and claimed[2]
        if more:
            self._busy.add(topic)
        else:
            self._busy.discard(topic)
            self._claimed_all(topic)
        if claimed is None:
            return None
        mid, payload, _ = claimed
        return Message(mid, topic, payload["method"], payload["request_id"], payload["args"])

    def _may_have(self, topic: str) -> bool:
        return topic in self._cast_to or topic in self._busy or topic in self._unclaimed_topics

    def _start_looking(self) -> None:
        with self._look_lock:
            if self._looker is None:
                self._looker = threading.Thread(target=self._look, name="novatui-bus-look",
                                                daemon=True)
                self._looker.start()

    def _look(self) -> None:
        """The process's look at the store, on its own thread: the topics with unclaimed
        messages, and a wake for each of their consumers here."""
        while not self._closed.wait(LOOK_SECONDS):
            try:
                topics = self.store.unclaimed_topics()
            except Exception:  # noqa: BLE001 - locked for a moment (the next look), or closing
                continue
            with self._look_lock:
                self._unclaimed_topics = topics
            for topic in topics:
                if (wakeup := self._wakeups.get(topic)) is not None:
                    wakeup.set()

    def _claimed_all(self, topic: str) -> None:
        """A claim left nothing behind: the shared look's word that the topic has a message
        is out of date, and would have its consumer claim in vain until the next look."""
        with self._look_lock:
            self._unclaimed_topics = self._unclaimed_topics - {topic}

    def done(self, message: Message) -> None:
        """The message is handled. Called inside the transaction that commits the step's
        outcome, so a step is either committed with its message gone, or runs again."""
        self.store.delete_message(message.id)

    def cast_unless_queued(self, topic: str, method: str, request_id: str, **args) -> bool:
        """Recovery's re-send of a move's next step: only when no step of the instance is
        queued or running anywhere."""
        payload = {"method": method, "request_id": request_id, "args": args}
        sent = self.store.put_message_unless_queued(topic, payload, args["uuid"])
        if sent:
            self._sent(topic, None, payload)
        return sent

    def wake(self, topic: str) -> None:
        """The consumer claims once, as after a cast (a call to run, a stop)."""
        self._signal(topic)


def make_bus(transport_url: str | None, store: Store, owner: str,
             on_notification: Callable[[dict], None] | None,
             log: Callable[[str, str], None]) -> MessageBus:
    """[messaging] transport_url: a broker's URL, or None for the embedded bus.
    on_notification: None for a process that takes no notifications (an agent)."""
    if transport_url is None:
        return MessageBus(store, owner)
    from .bus_broker import BrokerBus
    return BrokerBus(store, owner, transport_url, on_notification, log)
