"""The key bar (the main screen's footer): the focused view's keys for the selection, a
toggle named by the way it will go (`p pause` / `p unpause`), keys the state forbids dimmed,
keys that cannot work dimmed with the reason, and `? help` / `q quit` always at the right,
whatever the width."""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

KEY_STYLE = "bold black on #5f87af"
DIM_KEY_STYLE = "#5a5a5a on #262626"
LABEL_STYLE = ""
DIM_LABEL_STYLE = "#6c6c6c"


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    enabled: bool = True
    reason: str | None = None   # a short why, shown beside a dimmed key that cannot work


def _piece(item: Item) -> Text:
    text = Text()
    text.append(f" {item.key} ", style=KEY_STYLE if item.enabled else DIM_KEY_STYLE)
    label = f" {item.label}"
    if item.reason:
        label += f" ({item.reason})"
    text.append(label + " ", style=LABEL_STYLE if item.enabled else DIM_LABEL_STYLE)
    return text


def layout(items: list[Item], pinned: list[Item], width: int) -> Text:
    """As many items as fit, in order, then the pinned ones at the right edge."""
    tail = Text().join(_piece(i) for i in pinned)
    room = width - tail.cell_len
    head = Text()
    for item in items:
        piece = _piece(item)
        if head.cell_len + piece.cell_len > room:
            if item.reason:  # without its reason it may still fit
                piece = _piece(Item(item.key, item.label, item.enabled))
                if head.cell_len + piece.cell_len <= room:
                    head.append_text(piece)
            continue
        head.append_text(piece)
    pad = max(0, width - head.cell_len - tail.cell_len)
    return Text.assemble(head, " " * pad, tail)


class KeyBar(Static):
    DEFAULT_CSS = "KeyBar { dock: bottom; height: 1; background: $panel; }"

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.items: list[Item] = []
        self.pinned: list[Item] = []

    def show(self, items: list[Item], pinned: list[Item]) -> None:
        if items == self.items and pinned == self.pinned:
            return
        self.items, self.pinned = items, pinned
        self.refresh()

    def render(self) -> Text:
        return layout(self.items, self.pinned, self.size.width or 80)

    def plain(self) -> str:
        return layout(self.items, self.pinned, self.size.width or 80).plain
