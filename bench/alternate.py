"""Launches that alternate between checkouts: these machines' speed varies by 2x from one
minute to the next, so a before/after compares launches made side by side."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")


def alternate(roots: dict[str, Path], launches: int,
              run: Callable[[str, Path, int], T]) -> dict[str, list[T]]:
    """{label: [run(label, root, trial) for each trial]}, the roots taking turns."""
    runs: dict[str, list[T]] = {label: [] for label in roots}
    for trial in range(launches):
        for label, root in roots.items():
            runs[label].append(run(label, root, trial))
    return runs
