"""A Log that grows without a new layout of the screen.

Textual's Log sets its virtual size on every write, and a widget's virtual size asks the
whole screen for a new layout, which repaints every widget on it: with lines arriving ten
times a second, the instances and hosts tables were repainted ten times a second for
nothing. Here a new virtual size updates the Log's own scrollbars only; a scrollbar that
appears or goes still asks for the layout it needs."""
from __future__ import annotations

from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Log


class FeedLog(Log):
    virtual_size = Reactive(Size(0, 0), layout=False)

    def watch_virtual_size(self, size: Size) -> None:
        self._scroll_update(size)
