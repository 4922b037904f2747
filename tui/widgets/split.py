"""The split between the tables and the log panes: moved with keys and remembered across
runs in `console.json` (0600), which only holds the console's own layout preferences: in the
state dir when the service runs on this machine, else in ~/.config/novatui."""
from __future__ import annotations

import json
import os
from pathlib import Path

from textual.widget import Widget

PREFS_FILE = "console.json"
DEFAULT_PERCENT = 35          # of the screen's height, for the log panes
LEAST, MOST = 10, 80
STEP = 5


def load_prefs(state_dir: Path) -> dict:
    try:
        prefs = json.loads((Path(state_dir) / PREFS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return prefs if isinstance(prefs, dict) else {}


def save_prefs(state_dir: Path, prefs: dict) -> None:
    """Written whole to a temporary file (0600 from its creation) and moved into place."""
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    path = Path(state_dir) / PREFS_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        json.dump(prefs, f)
    os.replace(tmp, path)


def _clamp(value) -> int:
    try:
        return max(LEAST, min(MOST, STEP * round(int(value) / STEP)))
    except (TypeError, ValueError):
        return DEFAULT_PERCENT


class PaneSplit:
    """Gives the log panes (`target`) a share of the screen's height, by a `split-N` class
    on its screen (novatui.tcss has one rule for each): a class, not an inline style, so
    that other rules (the panes zoomed to full screen) still win over it."""

    def __init__(self, target: Widget, read_only: bool = False) -> None:
        self.target, self.read_only = target, read_only
        self.state_dir: Path | None = None   # where it is remembered, once known
        self.percent = DEFAULT_PERCENT

    def restore(self) -> None:
        """The default split, until use() says where the remembered one is."""
        self._apply()

    def use(self, state_dir: Path, prefs: dict) -> None:
        """The remembered split (`prefs`, read off the UI thread from `state_dir`)."""
        self.state_dir = state_dir
        self.percent = _clamp(prefs.get("logs_percent", DEFAULT_PERCENT))
        self._apply()

    def move(self, delta: int) -> int:
        """Positive: more room for the panes. Returns the new share."""
        return self.set(self.percent + delta)

    def set(self, percent: int) -> int:
        percent = _clamp(percent)
        if percent != self.percent:
            self.percent = percent
            self._apply()
            if self.state_dir is not None and not self.read_only:
                self.target.run_worker(lambda: self._save(percent), thread=True,
                                       exclusive=True, group="split-save")
        return percent

    def _apply(self) -> None:
        screen = self.target.screen
        for percent in range(LEAST, MOST + 1, STEP):
            screen.set_class(percent == self.percent and percent != DEFAULT_PERCENT,
                             f"split-{percent}")

    def _save(self, percent: int) -> None:  # on a worker thread
        prefs = load_prefs(self.state_dir)
        prefs["logs_percent"] = percent
        try:
            save_prefs(self.state_dir, prefs)
        except OSError:
            pass  # a preference: not worth an error
