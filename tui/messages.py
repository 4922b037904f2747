"""Typed messages from the client's threads up to the console."""
from __future__ import annotations

from textual.message import Message


class ClientEvents(Message):
    """A doorbell: the client's events are queued; the app drains and coalesces them."""


class RequestFailed(Message):
    def __init__(self, action: str, target: str, reason: str) -> None:
        super().__init__()
        self.action, self.target, self.reason = action, target, reason


class ActionDone(Message):
    def __init__(self, action: str, target: str, ok: bool, reason: str | None) -> None:
        super().__init__()
        self.action, self.target, self.ok, self.reason = action, target, ok, reason
