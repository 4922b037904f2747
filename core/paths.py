"""Where novatui keeps its state, in a module light enough for the CLI's fast path (the
inventory's parser, core/config.py, is imported only by the verbs that load the inventory)."""
from __future__ import annotations

import os
from pathlib import Path


def default_state_dir() -> Path:
    env = os.environ.get("NOVATUI_STATE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "novatui"
