"""n-api, n-sch and n-cpu panes that read like the files. Lines arrive in batches; a pane
follows only while it is scrolled to the bottom. The panes can narrow to one instance or to
one request id, across all three."""
from __future__ import annotations

from collections import deque

from rich.highlighter import Highlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Log, TabbedContent, TabPane

from core.logs import SERVICES, LogLine

KEEP = 5000


class OsloHighlighter(Highlighter):
    """Levels coloured, request ids and instance uuids picked out, HTTP errors in red."""

    RULES = ((r"\bDEBUG\b", "grey50"), (r"\bINFO\b", "green"), (r"\bWARNING\b", "bold yellow"),
             (r"\bERROR\b", "bold red"), (r"req-[0-9a-f-]{8,36}", "cyan"),
             (r"\[instance: [0-9a-f-]{8,36}\]", "magenta"), (r"status: [45]\d\d", "bold red"),
             (r"^(n-api|n-sch|n-cpu)", "bold blue"))

    def highlight(self, text: Text) -> None:
        for pattern, style in self.RULES:
            text.highlight_regex(pattern, style=style)


class LogPanes(Horizontal):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lines: deque[LogLine] = deque(maxlen=KEEP)
        self.instance: str | None = None
        self.request: str | None = None

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="pane-all"):
            for name in ("all",) + SERVICES:
                with TabPane(name, id=f"pane-{name}"):
                    log = Log(max_lines=KEEP, highlight=True, id=f"log-{name}")
                    log.highlighter = OsloHighlighter()
                    yield log

    def _matches(self, line: LogLine) -> bool:
        return ((self.instance is None or line.instance == self.instance)
                and (self.request is None or line.request_id == self.request))

    def write_batch(self, lines: list[LogLine]) -> None:
        self.lines.extend(lines)
        shown = [ln for ln in lines if self._matches(ln)]
        if not shown:
            return
        self.query_one("#log-all", Log).write_lines(f"{ln.service} {ln.brief()}" for ln in shown)
        for service in SERVICES:
            mine = [ln.brief() for ln in shown if ln.service == service]
            if mine:
                self.query_one(f"#log-{service}", Log).write_lines(mine)

    def narrow(self, instance: str | None = None, request: str | None = None) -> None:
        self.instance, self.request = instance, request
        kept = [ln for ln in self.lines if self._matches(ln)]
        for name in ("all",) + SERVICES:
            log = self.query_one(f"#log-{name}", Log)
            log.clear()
            mine = kept if name == "all" else [ln for ln in kept if ln.service == name]
            log.write_lines((f"{ln.service} {ln.brief()}" if name == "all" else ln.brief())
                            for ln in mine)

    def pane_text(self, name: str) -> str:
        return "\n".join(self.query_one(f"#log-{name}", Log).lines)
