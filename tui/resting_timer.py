"""An interval timer that runs only while it has work: an idle console wakes for nothing.

Textual's set_interval wakes its app at every interval whatever happens; ten times a second
for the log lines, four for the log panes' scroll marks, and so on, that was most of an
idle console's CPU. A RestingTimer starts when something becomes due (`due`, or
`due_from_thread` on a client's thread) and its callback stops it when nothing is left
(`rest`). Its first tick after a rest is one interval away, never at once: a burst's first
change does not run the callback by itself, so the burst is still handled in batches. Each
tick is a one-shot timer of Textual's, set again by the tick before while there is work.
"""
from __future__ import annotations

from typing import Callable

from textual.dom import DOMNode


class RestingTimer:
    def __init__(self, node: DOMNode, interval: float, callback: Callable[[], None]) -> None:
        self._node, self._interval, self._callback = node, interval, callback
        self._armed = False   # a one-shot timer is set (the UI thread's flag)
        self.running = False

    def due(self) -> None:
        """Something waits for the callback (the UI thread)."""
        if not self.running:
            self.running = True
            self._arm()

    def due_from_thread(self) -> None:
        """Something waits for the callback (any thread; the flag may race: a second
        arming is harmless, and `rest` looks again after lowering it)."""
        if not self.running:
            self.running = True
            self._node.call_later(self._arm)   # a message: in the app's context, from any thread

    def rest(self, pending: Callable[[], bool] = lambda: False) -> None:
        """Stop once the tick under way ends, unless `pending()` says something came while
        the flag fell (another thread saw it raised, and did not start us)."""
        self.running = False
        if pending():
            self.running = True
            self._arm()   # called outside a tick (a test's), nothing else would set it

    def _arm(self) -> None:
        if not self._armed:
            self._armed = True
            self._node.set_timer(self._interval, self._fire)

    def _fire(self) -> None:
        self._armed = False
        self._callback()
        if self.running:
            self._arm()
