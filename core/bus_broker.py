"""The bus over a message broker (RabbitMQ, through kombu): Nova's deployment, where the API,
the conductor and a compute agent per hypervisor are separate processes on separate machines.

What the broker carries:
- casts, on a durable direct exchange `novatui`, one durable queue per topic (`conductor`,
  `compute.<host>`), as persistent messages. A consumer is pushed its casts; nobody polls.
- notifications (log lines, instance, host and action changes), on a fanout exchange
  `novatui.notifications` that every process binds a queue of its own to, so that every API
  service, and every console attached to one, sees every agent's lines.
- calls, where the caller needs an answer (a guest's domain XML from the agent that drives
  its host): a transient message on the topic's queue, naming the caller's reply queue and a
  correlation id, dropped by the broker when the caller no longer waits.

What the store keeps: the mailbox table stays the ledger of casts, written in the step's own
transaction (a transactional outbox). A cast is published only once that transaction has
committed, and the consumer claims its row by id before it acts; the step deletes the row when
it commits its outcome. So a cast the broker loses (a restart, a failed publish) is still in the
ledger, and each consumer sweeps its topic's rows every SWEEP_SECONDS and at every reconnect;
a cast the broker delivers twice (a sweep raced it, or a publish was retried) finds its row
claimed or gone and is dropped. No cast is lost and none runs twice, whatever the broker does.
"""
from __future__ import annotations

import queue
import socket
import threading
import time
import uuid as uuidlib
from concurrent.futures import Future
from typing import Callable

from .bus import POLL_SECONDS, Message, MessageBus
from .store import Store

SWEEP_SECONDS = 5.0       # a topic's ledger rows that no delivery claimed are claimed then
RETRY_SECONDS = 1.0       # between attempts to reach a broker that is down
DRAIN_SECONDS = 0.5       # the receiver looks for newly served topics this often
CAST_EXCHANGE = "novatui"
NOTIFY_EXCHANGE = "novatui.notifications"
_WAKE, _SWEEP = object(), object()


def kombu_url(transport_url: str) -> str:
    """oslo.messaging's rabbit://user:pass@host:port/vhost is kombu's amqp://..."""
    scheme, rest = transport_url.split("://", 1)
    return ("amqp://" if scheme == "rabbit" else f"{scheme}://") + rest


class BrokerLink:
    """Two kombu connections, each owned by one thread (a kombu connection is not
    thread-safe): one publishes what other threads queue, one receives."""

    def __init__(self, url: str, owner: str, on_cast: Callable[[str, object], None],
                 on_notification: Callable[[dict], None] | None, on_call: Callable[[dict], None],
                 on_reply: Callable[[dict], None], log: Callable[[str, str], None]):
        import kombu   # here: a process with no broker configured never imports it
        self._kombu = kombu
        self.url, self.owner = kombu_url(url), owner
        self._on_cast, self._on_notification, self._log = on_cast, on_notification, log
        self._on_call, self._on_reply = on_call, on_reply
        self.reply_queue = f"novatui.reply.{owner}"
        self._casts = kombu.Exchange(CAST_EXCHANGE, type="direct", durable=True)
        self._notes = kombu.Exchange(NOTIFY_EXCHANGE, type="fanout", durable=False)
        self._out: queue.SimpleQueue = queue.SimpleQueue()
        self._topics: set[str] = set()
        self._topics_lock = threading.Lock()
        self._stop = threading.Event()
        self.receiving = threading.Event()
        self._threads = [threading.Thread(target=fn, name=f"novatui-broker-{name}", daemon=True)
                         for name, fn in (("out", self._publish_loop), ("in", self._receive_loop))]

    def start(self) -> "BrokerLink":
        for t in self._threads:
            t.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._out.put(None)
        for t in self._threads:
            t.join(timeout=5)

    def _queue(self, topic: str):
        return self._kombu.Queue(topic, self._casts, routing_key=topic, durable=True)

    def _connect(self):
        conn = self._kombu.Connection(self.url, connect_timeout=2, heartbeat=0)
        conn.connect()
        return conn

    # -- out ------------------------------------------------------------------------------
    def publish_cast(self, topic: str, body: dict) -> None:
        self._out.put((self._casts, topic, body, [self._queue(topic)], None))

    def publish_notification(self, event: dict) -> None:
        self._out.put((self._notes, "", {"event": event}, [], None))

    def publish_call(self, topic: str, body: dict, timeout: float) -> None:
        self._out.put((self._casts, topic, body, [self._queue(topic)], timeout))

    def publish_reply(self, reply_to: str, body: dict) -> None:
        self._out.put(("", reply_to, body, [], None))   # the default exchange: to that queue

    def _publish_loop(self) -> None:
        conn = producer = None
        down_until = 0.0
        while (item := self._out.get()) is not None:
            if time.monotonic() < down_until:
                continue   # the broker is down: dropped (a cast's row is in the ledger)
            exchange, key, body, declare, expires = item
            for attempt in (1, 2):   # a connection the broker dropped is known at first use
                try:
                    if conn is None:
                        conn = self._connect()
                        producer = self._kombu.Producer(conn.channel())
                    producer.publish(body, exchange=exchange, routing_key=key, serializer="json",
                                     delivery_mode=2 if declare and not expires else 1,
                                     declare=declare, expiration=expires,
                                     headers={"origin": self.owner} if exchange is self._notes
                                     else None)
                    break
                except Exception as e:  # noqa: BLE001 - a broker error of any kind
                    conn = self._drop(conn)
                    if attempt == 2:
                        self._log("ERROR", f"Cannot publish to the message broker: {type(e).__name__}: "
                                  f"{e}; casts wait in the store for the consumers' sweep")
                        down_until = time.monotonic() + RETRY_SECONDS
        self._drop(conn)

    # -- in -------------------------------------------------------------------------------
    def listen(self, topic: str) -> None:
        """Consume this topic's casts from now on (this process serves it)."""
        with self._topics_lock:
            self._topics.add(topic)

    def _receive_loop(self) -> None:
        was_down = False
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._connect()
                queues = [self._kombu.Queue(self.reply_queue, exclusive=True, auto_delete=True,
                                            durable=False)]
                if self._on_notification is not None:
                    queues.append(self._kombu.Queue(f"{NOTIFY_EXCHANGE}.{self.owner}",
                                                    self._notes, exclusive=True,
                                                    auto_delete=True, durable=False))
                consumer = self._kombu.Consumer(conn.channel(), queues, no_ack=True,
                                                on_message=self._on_message, accept=["json"])
                consumer.consume()
                served: set[str] = set()
                self.receiving.set()
                if was_down:
                    self._log("INFO", "Reconnected to the message broker")
                    for topic in self._served():
                        self._on_cast(topic, _SWEEP)   # what it lost while down
                while not self._stop.is_set():
                    new = self._served() - served
                    for topic in sorted(new):
                        consumer.add_queue(self._queue(topic))
                    if new:
                        consumer.consume()
                        served |= new
                    try:
                        conn.drain_events(timeout=DRAIN_SECONDS)
                    except socket.timeout:
                        pass
            except Exception as e:  # noqa: BLE001 - a broker error of any kind
                self.receiving.clear()
                if not was_down:
                    self._log("ERROR", f"Lost the message broker: {type(e).__name__}: {e}; "
                              f"retrying every {RETRY_SECONDS:.0f} s")
                was_down = True
                self._stop.wait(RETRY_SECONDS)
            finally:
                self._drop(conn)

    def _served(self) -> set[str]:
        with self._topics_lock:
            return set(self._topics)

    def _on_message(self, message) -> None:
        if message.headers.get("origin") == self.owner:
            return   # our own notification, back from the fanout: not even decoded
        body = message.decode()
        if "correlation_id" in body:
            (self._on_call if "reply_to" in body else self._on_reply)(body)
        elif "topic" in body:
            self._on_cast(body["topic"], body)
        else:
            self._on_notification(body["event"])

    @staticmethod
    def _drop(conn) -> None:
        if conn is not None:
            try:
                conn.release()
            except Exception:  # noqa: BLE001 - already broken
                pass


class BrokerBus(MessageBus):
    """MessageBus with casts delivered by a broker and notifications for every process."""

    transport = "rabbit"

    def __init__(self, store: Store, owner: str, url: str,
                 on_notification: Callable[[dict], None] | None, log: Callable[[str, str], None]):
        super().__init__(store, owner)
        self._inboxes: dict[str, queue.SimpleQueue] = {}
        self._next_sweep: dict[str, float] = {}
        self._answering: dict[str, Callable[[str, dict], Future]] = {}
        self._waiting: dict[str, Future] = {}
        self.link = BrokerLink(url, self.owner, self._arrived, on_notification, self._answer,
                               self._replied, log).start()

    def close(self) -> None:
        self.link.close()

    def _inbox(self, topic: str) -> queue.SimpleQueue:
        with self._lock:
            inbox = self._inboxes.get(topic)
            if inbox is None:
                inbox = self._inboxes[topic] = queue.SimpleQueue()
        return inbox

    def _arrived(self, topic: str, item) -> None:
        self._inbox(topic).put(item)

    def _sent(self, topic: str, message_id: int | None, payload: dict) -> None:
        body = {"id": message_id, "topic": topic, **payload}
        self.store.after_commit(lambda: self.link.publish_cast(topic, body))

    def wake(self, topic: str) -> None:
        self._inbox(topic).put(_WAKE)

    def notify(self, item: dict) -> None:
        self.link.publish_notification(item)

    def consume(self, topic: str, timeout: float = POLL_SECONDS) -> Message | None:
        """The next cast the broker delivers (or the sweep finds) that this consumer claims;
        None after the timeout or a wake."""
        inbox = self._inbox(topic)
        if topic not in self._next_sweep:
            self.link.listen(topic)
            self._next_sweep[topic] = 0.0   # what was queued before this process started
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = inbox.get(timeout=max(0.0, min(deadline, self._next_sweep[topic])
                                             - time.monotonic()))
            except queue.Empty:
                item = _SWEEP if time.monotonic() >= self._next_sweep[topic] else None
            if item is None or item is _WAKE:
                return None
            if item is _SWEEP or item.get("id") is None:   # a recovery's re-send has no id
                self._next_sweep[topic] = time.monotonic() + SWEEP_SECONDS
                claimed = self.store.claim_message(topic, self.owner)
            else:
                claimed = self.store.claim_message_id(item["id"], self.owner)
            if claimed is not None:
                mid, payload = claimed
                return Message(mid, topic, payload["method"], payload["request_id"],
                               payload["args"])

    # -- calls ----------------------------------------------------------------------------
    def serve_calls(self, topic: str, answer: Callable[[str, dict], Future]) -> None:
        """Answer the calls to `topic`: answer(method, args) gives a Future of the result."""
        self._answering[topic] = answer
        self.link.listen(topic)

    def call(self, topic: str, method: str, timeout: float, **args) -> Future:
        """A request to whoever serves `topic`; the Future fails with TimeoutError when no
        answer comes within `timeout` (no agent, or one that is down)."""
        cid = uuidlib.uuid4().hex
        future: Future = Future()
        self._waiting[cid] = future
        timer = threading.Timer(timeout, lambda: self._replied(
            {"correlation_id": cid, "error": f"no answer from {topic} within {timeout:.0f} s",
             "timeout": True}))
        timer.daemon = True
        timer.start()
        future.add_done_callback(lambda _f: timer.cancel())
        self.link.publish_call(topic, {"topic": topic, "method": method, "args": args,
                                       "reply_to": self.link.reply_queue, "correlation_id": cid},
                               timeout)
        return future

    def _answer(self, body: dict) -> None:
        answer = self._answering.get(body["topic"])
        if answer is None:
            return
        def send(done: Future) -> None:
            error = done.exception()
            reply = {"correlation_id": body["correlation_id"]}
            reply.update({"error": f"{type(error).__name__}: {error}"} if error else
                         {"result": done.result()})
            self.link.publish_reply(body["reply_to"], reply)
        answer(body["method"], body["args"]).add_done_callback(send)

    def _replied(self, body: dict) -> None:
        future = self._waiting.pop(body["correlation_id"], None)
        if future is None or not future.set_running_or_notify_cancel():
            return
        if "error" in body:
            future.set_exception((TimeoutError if body.get("timeout") else RuntimeError)(body["error"]))
        else:
            future.set_result(body["result"])
