"""An interval timer that runs only while it has work: an idle console wakes for nothing.

Textual's set_interval wakes its app at every interval whatever happens; ten times a second
for the log lines, four for the log panes' scroll marks, and so on, that was most of an
idle console's CPU. A RestingTimer starts when something becomes due (`due`, or
`due_from_thread` on a client's thread) and its callback stops it when nothing is left
(`rest`). Its first tick after a rest is one to two intervals away, never at once: a burst's
first change does not run the callback by itself, so the burst is still handled in batches.
"""
from __future__ import annotations

import asyncio
from typing import Callable

from textual.dom import DOMNode


class RestingTimer:
    def __init__(self, node: DOMNode, interval: float, callback: Callable[[], None]) -> None:
        self._timer = node.set_interval(interval, callback, pause=True)
        self._loop = asyncio.get_running_loop()
        self.running = False

    def due(self) -> None:
        """Something waits for the callback (the UI thread)."""
        if not self.running:
            self.running = True
            self._timer.reset()   # from now: not at once, even after a long rest

    def due_from_thread(self) -> None:
        """Something waits for the callback (any thread; the flag may race: a second
        reset is harmless, and `rest` looks again after lowering it)."""
        if not self.running:
            self.running = True
            self._loop.call_soon_threadsafe(self._timer.reset)

    def rest(self, pending: Callable[[], bool] = lambda: False) -> None:
        """Stop until something is due again, unless `pending()` says something came
        while the flag fell (another thread saw it raised, and did not start us)."""
        self.running = False
        if pending():
            self.running = True
        else:
            self._timer.pause()
