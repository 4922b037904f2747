"""What the client tells the console, on the client's threads, queued for the UI thread:
state changes coalesced (the last state of each instance and host wins, a snapshot replaces
everything before it), log lines in batches, and the log history merged in front of the live
lines without showing a line twice."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from core.events import (ActionFinished, HostChanged, InstanceChanged, LogEmitted, ServiceBack,
                         ServiceLost, Snapshot)
from core.logs import LogLine

RECENT_KEYS = 5000   # lines remembered to keep a history from repeating a live one


def line_key(line: LogLine) -> tuple:
    """What a line is, as its file holds it (a line read back from a file loses the host
    and the time below the millisecond): the same key live and read back."""
    return line.service, line.format()


@dataclass
class Changes:
    """One drain of the queue. full: a snapshot came, rows missing from it are gone."""
    instances: dict = field(default_factory=dict)
    hosts: dict = field(default_factory=dict)
    full: bool = False
    failed: list = field(default_factory=list)     # ActionFinished with ok=False
    service: list = field(default_factory=list)    # ServiceLost / ServiceBack, in order


class Feed:
    def __init__(self) -> None:
        self.events: deque = deque()
        self.lines: deque = deque()
        self.history_shown = False     # live lines wait until the history is in front of them
        # Instances whose changes wake the UI at once: the rows on screen, the cursor's, the
        # marked ones. Swapped whole by the UI thread, read by the client threads.
        self.in_view: frozenset[str] = frozenset()
        self._recent: deque = deque(maxlen=RECENT_KEYS)
        self._recent_set: set = set()

    # client threads: deque appends are atomic
    def put(self, event: object) -> bool:
        """Queues an event; True when the UI should be woken for it now. A change of an
        instance out of view waits for the UI's next tick, with the others that came
        meanwhile: a script's burst is applied ten times a second, not at every batch."""
        if isinstance(event, LogEmitted):
            self.lines.append(event.line)
            return False
        if isinstance(event, ActionFinished) and event.ok:
            return False   # the row's change tells it; only a failure is shown
        self.events.append(event)
        return not isinstance(event, InstanceChanged) or event.instance.get("uuid") in self.in_view

    @property
    def holding(self) -> bool:
        """Changes or lines wait for the UI."""
        return bool(self.events or self.lines)

    # the UI thread
    def drain(self) -> Changes:
        changes = Changes()
        while self.events:
            event = self.events.popleft()
            if isinstance(event, Snapshot):
                changes.instances = {i["uuid"]: i for i in event.instances}
                changes.hosts = {h["name"]: h for h in event.hosts}
                changes.full = True
            elif isinstance(event, InstanceChanged):
                changes.instances[event.instance["uuid"]] = event.instance
            elif isinstance(event, HostChanged):
                changes.hosts[event.host["name"]] = event.host
            elif isinstance(event, ActionFinished) and not event.ok:
                changes.failed.append(event)
            elif isinstance(event, (ServiceLost, ServiceBack)):
                changes.service.append(event)
        return changes

    def batch(self, history: list[LogLine] | None = None) -> list[LogLine]:
        """The lines to show now: the history (when it came) then the queued live lines,
        each line once. Nothing while a history is awaited."""
        if history is None and not self.history_shown:
            return []
        if history is not None:
            self.history_shown = True
        out = []
        for line in list(history or []) + self._take():
            key = line_key(line)
            if key in self._recent_set:
                continue
            if len(self._recent) == self._recent.maxlen:
                self._recent_set.discard(self._recent[0])
            self._recent.append(key)
            self._recent_set.add(key)
            out.append(line)
        return out

    def _take(self) -> list[LogLine]:
        taken = []
        while self.lines:
            taken.append(self.lines.popleft())
        return taken

    def since(self, history: list[LogLine], after: float | None) -> list[LogLine]:
        """A history read after a reconnection: only what came after the last line shown
        (the rest is on screen already)."""
        return history if after is None else [ln for ln in history if ln.time >= after]
