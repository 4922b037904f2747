"""The crash campaign: kill -9 the owning process at every crash point of every multi-step
operation, restart, and check the invariants.

The points are not listed here: each operation first runs once with NOVATUI_CRASH_TRACE, and
every (name, n) it passed becomes a run of its own with NOVATUI_CRASH_AT=name#n, from the same
starting state. A process that reaches its point must die by SIGKILL; one that does not reach
it (the timing of threads differs between runs) must end normally. Then `server list` is the
restart, and tests/invariants.py the judge. A failure lists every point that broke something.

NOVATUI_SOAK=1: each point three times, and more variants of the operations.
NOVATUI_CRASH_REPORT=FILE: one JSON line per operation with its points and violations.
"""
from __future__ import annotations

import time

import pytest

from tests.crash.conftest import OPS, SOAK, SOAK_OPS, crash_and_check, discover, report

REPEATS = 3 if SOAK else 1


@pytest.mark.parametrize("op", OPS + (SOAK_OPS if SOAK else []), ids=lambda o: o.name)
def test_kill_at_every_crash_point_then_restart(template, op):
    start = time.monotonic()
    points, clean = discover(template, op)
    broken = {"(no crash)": clean} if clean else {}
    for name, nth in points:
        for _ in range(REPEATS):
            problems = crash_and_check(template, op, name, nth)
            if problems:
                broken[f"{name}#{nth}"] = problems
                break
    took = time.monotonic() - start
    print(f"{op.name}: {len(points)} crash points x {REPEATS} in {took:.1f} s")
    report({"op": op.name, "points": [f"{n}#{k}" for n, k in points], "repeats": REPEATS,
            "seconds": round(took, 1), "broken": broken})
    assert not broken, f"{op.name}: {len(broken)} of {len(points)} crash points break invariants:\n" \
        + "\n".join(f"  {point}:\n" + "\n".join(f"    {p}" for p in problems)
                    for point, problems in broken.items())
