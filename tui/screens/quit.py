"""Quitting with a move in flight: say what is still running and ask whether to wait for it
to reach a resting state or to leave its queued steps to the next process driving its hosts.

Dismissed with True (wait: it came to rest), False (leave it queued) or None (stay)."""
from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static
from textual.worker import get_current_worker

POLL_SECONDS = 0.5
RESTING = "ACTIVE, VERIFY_RESIZE, SHUTOFF, ERROR"


def in_flight_text(rows: list[dict]) -> Text:
    """One line per instance: name, action, task_state, host, in columns."""
    if not rows:
        return Text("nothing in flight any more", style="dim")
    cells = [(r["name"], r["action"], r["task_state"] or "-", f"on {r.get('host') or '-'}")
             for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    text = Text()
    for n, row in enumerate(cells):
        if n:
            text.append("\n")
        text.append(row[0].ljust(widths[0]), style="bold")
        text.append("  " + row[1].ljust(widths[1]))
        text.append("  " + row[2].ljust(widths[2]), style="yellow")
        text.append("  " + row[3])
    return text


class KeyButton(Button, can_focus=False):
    """For the mouse: the keys are the dialog's own, so Enter always means wait."""


class QuitDialog(ModalScreen[bool | None]):
    BINDINGS = [Binding("w,enter", "wait", "wait"), Binding("l", "leave", "leave queued"),
                Binding("escape", "stay", "stay")]

    def __init__(self, rows: list[dict]) -> None:
        super().__init__()
        self.rows = rows
        self.waiting = False
        self.answered = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self._title(), id="quit-title", classes="title")
            yield Label("Quitting now would leave these between steps:", classes="text")
            yield Static(in_flight_text(self.rows), id="in-flight")
            yield Label("", id="waiting", classes="warning")
            yield Label(f"w / Enter  wait: quit when these reach a resting state ({RESTING})\n"
                        "l          leave them queued: the next novatui process that drives these "
                        "hosts carries them on\n"
                        "Esc        stay in the console", id="choices", classes="text", markup=False)
            with Horizontal(classes="buttons"):
                yield KeyButton("Wait", variant="primary", id="wait")
                yield KeyButton("Leave queued", id="leave")
                yield KeyButton("Stay", id="stay")

    def on_mount(self) -> None:
        self.set_interval(POLL_SECONDS, self.poll)

    def _title(self) -> str:
        n = len(self.rows)
        if not n:
            return "Nothing is running any more: w / Enter quits"
        return f"Still running in this console: {n} instance{'s' if n != 1 else ''}"

    # -- the live list (a worker: in_flight() reads the store) --------------------------
    @work(thread=True, group="in-flight", exclusive=True)
    def poll(self) -> None:
        rows = self.app.in_flight()
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.show, rows)

    def show(self, rows: list[dict]) -> None:
        if self.answered:  # answered while the store was read
            return
        self.rows = rows
        self.query_one("#quit-title", Label).update(self._title())
        self.query_one("#in-flight", Static).update(in_flight_text(rows))
        if self.waiting and not rows:
            self._answer(True)

    # -- answers -----------------------------------------------------------------------
    def action_wait(self) -> None:
        if self.waiting:
            return
        self.waiting = True
        note = self.query_one("#waiting", Label)
        note.display = True
        note.update(
            "waiting… the console quits by itself once these reach a resting state "
            "(l leaves them queued, Esc stays)")
        self.query_one("#wait", Button).disabled = True
        self.poll()  # at once: perhaps they already came to rest

    def action_leave(self) -> None:
        self._answer(False)

    def action_stay(self) -> None:
        self._answer(None)

    def _answer(self, settle: bool | None) -> None:
        if not self.answered:
            self.answered = True
            self.dismiss(settle)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        getattr(self, f"action_{event.button.id}")()
