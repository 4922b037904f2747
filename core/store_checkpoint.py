"""SQLite's WAL checkpoints, on a thread of their own.

SQLite checkpoints from the commit that finds the WAL over 1,000 pages. In a burst the
WAL never restarts (some connection of the 25 is always reading), so that was every commit
past the mark: each copied the new pages into the database and synced both files, on the
committing thread, a request's or a compute step's (1.4 fdatasync per script pause, and
the API's commit p99 at 10 ms). Here the connections do no checkpoint of their own
(wal_autocheckpoint=0); the process's writes wake this thread, which checkpoints at most
once a second while they go on, and sleeps without a timer when they stop. The last
connection to close checkpoints what is left and removes the WAL, as before.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

CHECKPOINT_SECONDS = 1.0
# After a checkpoint lets the WAL start over, its file is cut back to this (a burst grows it
# to tens of MB; SQLite keeps the file at its largest otherwise).
WAL_SIZE_LIMIT = 32 * 1024 * 1024


class WalCheckpointer:
    def __init__(self, path: Path):
        self.path = path
        self._dirty = False
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def wrote(self) -> None:
        """A write committed: a checkpoint is due within CHECKPOINT_SECONDS. Cheap when one
        is due already (a flag read), as it is for every write of a burst but the first."""
        if self._dirty or self._closed.is_set():
            return
        self._dirty = True
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, daemon=True,
                                                    name="novatui-checkpoint")
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._wake.wait()
                # Cleared before close is looked at, never after: a close() that came
                # between the two would have its wake cleared, and the thread would wait
                # for a write forever and close() for the thread (a CLI's exit hung so).
                self._wake.clear()
                if self._closed.wait(CHECKPOINT_SECONDS):
                    return
                self._dirty = False   # a write from now on wakes the next round
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    pass   # busy or closing: the next write brings another round
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the thread (before the store's connections close: the last one checkpoints)."""
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
