"""n-api, n-sch and n-cpu panes that read like the files. Lines arrive in batches; a pane
follows only while it is scrolled to the bottom, and says how many lines came below while
it is not. The panes can narrow to one instance or to one request id, across all three;
they hide DEBUG lines at first (the files keep everything), wrap on demand, and name the
instances beside their short ids."""
from __future__ import annotations

from collections import deque
from typing import Callable

from rich.highlighter import Highlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Log, TabbedContent, TabPane

from core.logs import SERVICES, LogLine

from ..resting_timer import RestingTimer
from .feed_log import FeedLog
from .log_format import LEVELS, pane_line, wrap

KEEP = 5000
PANES = ("all",) + SERVICES


class OsloHighlighter(Highlighter):
    """Levels coloured, request ids and instance uuids picked out, HTTP errors in red."""

    RULES = ((r"\bDEBUG\b", "grey50"), (r"\bINFO\b", "green"), (r"\bWARNING\b", "bold yellow"),
             (r"\bERROR\b", "bold red"), (r"req-[0-9a-f-]{8,36}", "cyan"),
             (r"\[instance: [0-9a-f-]{8,36}[^\]]*\]", "magenta"), (r"status: [45]\d\d", "bold red"),
             (r"^(n-api|n-sch|n-cpu)", "bold blue"))

    def highlight(self, text: Text) -> None:
        for pattern, style in self.RULES:
            text.highlight_regex(pattern, style=style)


class LogPanes(Vertical):
    def __init__(self, host_names: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(**kwargs)
        self.lines: deque[LogLine] = deque(maxlen=KEEP)
        self.instance: str | None = None
        self.instance_name: str | None = None
        self.request: str | None = None
        self.min_level = "INFO"          # DEBUG hidden at first
        self.wrapped = False
        self.names: dict[str, str] = {}  # uuid -> instance name (kept after a delete)
        self.host_of: Callable[[str], str | None] = lambda uuid: None
        self.host_width = max((len(h) for h in host_names), default=0)
        self.below: dict[str, int] = dict.fromkeys(PANES, 0)  # new lines under the view
        self.on_state: Callable[[], None] = lambda: None       # the title follows
        self.stale: set[str] = set()     # hidden panes that lack lines: written when shown

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="pane-all"):
            for name in PANES:
                with TabPane(name, id=f"pane-{name}"):
                    log = FeedLog(max_lines=KEEP, highlight=True, id=f"log-{name}")
                    log.highlighter = OsloHighlighter()
                    yield log

    def on_mount(self) -> None:
        # Looks for a pane scrolled back to its end while one has new lines below its view.
        self.scroll_watch = RestingTimer(self, 0.25, self._check_scrolled)

    # -- what is shown -------------------------------------------------------------------
    def _matches(self, line: LogLine) -> bool:
        return (LEVELS.index(line.level) >= LEVELS.index(self.min_level) if line.level in LEVELS
                else True) \
            and (self.instance is None or line.instance == self.instance) \
            and (self.request is None or line.request_id == self.request)

    def _line_text(self, pane: str, line: LogLine) -> str:
        host = None
        if line.service == "n-cpu":
            host = line.host or (self.host_of(line.instance) if line.instance else None)
        name = self.names.get(line.instance) if line.instance else None
        width = self.host_width if pane in ("all", "n-cpu") else 0
        return pane_line(line, host, name, width, pane == "all")

    def _texts(self, pane: str, lines: list[LogLine]) -> list[str]:
        mine = lines if pane == "all" else [ln for ln in lines if ln.service == pane]
        texts = [self._line_text(pane, ln) for ln in mine]
        if not self.wrapped or not texts:
            return texts
        width = max(20, self.query_one(f"#log-{pane}", Log).scrollable_content_region.width - 1)
        return [part for t in texts for part in wrap(t, width)]

    def write_batch(self, lines: list[LogLine]) -> None:
        """Lines go to the pane on show; the hidden panes are written when they are shown
        (a Log that grows asks the whole screen for a new layout)."""
        self.lines.extend(lines)
        shown = [ln for ln in lines if self._matches(ln)]
        if not shown:
            return
        active = self.active_pane
        self.stale.update(p for p in PANES if p != active)
        texts = self._texts(active, shown)
        if texts:
            log = self.query_one(f"#log-{active}", Log)
            if not log.is_vertical_scroll_end and log.line_count:
                self.below[active] += len(texts)
                self.scroll_watch.due()
            log.write_lines(texts)
        self._check_scrolled()

    def rewrite(self) -> None:
        """The filters changed: the pane on show anew, the others when they are shown."""
        self.stale.update(PANES)
        self._write_all(self.active_pane)
        self.on_state()

    def _write_all(self, pane: str) -> None:
        kept = [ln for ln in self.lines if self._matches(ln)]
        log = self.query_one(f"#log-{pane}", Log)
        log.clear()
        log.write_lines(self._texts(pane, kept))
        self.below[pane] = 0
        self.stale.discard(pane)

    def narrow(self, instance: str | None = None, request: str | None = None) -> None:
        self.instance, self.request = instance, request
        self.instance_name = self.names.get(instance) if instance else None
        self.rewrite()

    def set_level(self, level: str) -> None:
        self.min_level = level
        self.rewrite()

    def next_level(self) -> str:
        """INFO -> WARNING -> ERROR -> DEBUG -> INFO."""
        self.set_level(LEVELS[(LEVELS.index(self.min_level) + 1) % len(LEVELS)])
        return self.min_level

    def toggle_wrap(self) -> bool:
        self.wrapped = not self.wrapped
        self.rewrite()
        return self.wrapped

    def on_resize(self) -> None:
        if self.wrapped:
            self.call_after_refresh(self.rewrite)

    # -- the "new lines below" marker ----------------------------------------------------
    @property
    def active_pane(self) -> str:
        active = self.query_one(TabbedContent).active or "pane-all"
        return active.removeprefix("pane-")

    @property
    def pending_below(self) -> int:
        return self.below.get(self.active_pane, 0)

    def _check_scrolled(self) -> None:
        changed = False
        for pane in PANES:
            if self.below[pane] and self.query_one(f"#log-{pane}", Log).is_vertical_scroll_end:
                self.below[pane] = 0
                changed = True
        if changed or self.below[self.active_pane]:
            self.on_state()
        if not any(self.below.values()):
            self.scroll_watch.rest()

    def on_tabbed_content_tab_activated(self) -> None:
        if self.active_pane in self.stale:
            self._write_all(self.active_pane)
        self.on_state()

    def state_text(self) -> str:
        parts = ["logs"]
        if self.instance:
            parts.append(f"instance {self.instance_name or self.instance[:8]} only (f)")
        if self.request:
            parts.append(f"request {self.request[:12]} (t)")
        parts.append(f"level ≥ {self.min_level} (l)")
        if self.wrapped:
            parts.append("wrapped (w)")
        if self.pending_below:
            parts.append(f"▼ {self.pending_below} new lines below")
        return " · ".join(parts)

    def pane_text(self, name: str) -> str:
        """What the pane shows, or would show once shown."""
        if name in self.stale:
            return "\n".join(self._texts(name, [ln for ln in self.lines if self._matches(ln)]))
        return "\n".join(self.query_one(f"#log-{name}", Log).lines)
