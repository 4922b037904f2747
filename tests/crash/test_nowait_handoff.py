"""The `--no-wait` handoff: five instances on cmp3, each cold-migrated by a process that exits
as soon as its request is accepted, then `server list` twice. Whatever process carries the
moves on, every trial must end with no lost disk, no guest on two hosts and no wedged
migration. 3 trials in `make test`, 50 under NOVATUI_SOAK=1."""
from __future__ import annotations

import pytest

from tests.crash.conftest import SOAK, build_template

TRIALS = 50 if SOAK else 3
NAMES = [f"r{i}" for i in range(1, 6)]
COUNTED = {"lost disks": {"disk"}, "guests on two hosts": {"two-hosts"},
           "wedged migrations": {"wedged-migration", "task_state"}}


def five_on_cmp3(cloud) -> dict:
    for host in ("cmp1", "cmp2"):
        cloud.ok("host", "disable", "--reason", "fill cmp3", host)
    made = {name: cloud.create(name) for name in NAMES}
    assert {cloud.instance(n)["host"] for n in NAMES} == {"cmp3"}
    for host in ("cmp1", "cmp2"):
        cloud.ok("host", "enable", host)
    return made


@pytest.fixture(scope="module")
def five(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("nowait-template"), five_on_cmp3)


def count(problems) -> dict[str, int]:
    """Instances hit by each kind of damage the issue counts."""
    return {what: len({v.uuid for v in problems if getattr(v, "kind", None) in kinds})
            for what, kinds in COUNTED.items()}


def test_no_wait_migrations_then_two_lists(five):
    totals = dict.fromkeys(COUNTED, 0)
    failed = []
    for trial in range(TRIALS):
        cloud = five.restore()
        problems = []
        for name in NAMES:
            p = cloud.run("server", "migrate", "--no-wait", name)
            if p.returncode != 0:
                problems.append(f"[cli] migrate --no-wait {name} -> {p.returncode}: {p.stderr.strip()}")
        for _ in range(2):
            p = cloud.run("server", "list")
            if p.returncode != 0:
                problems.append(f"[cli] server list -> {p.returncode}: {p.stderr.strip()}")
        problems += cloud.check(five.expected())
        for what, n in count(problems).items():
            totals[what] += n
        if problems:
            failed.append((trial, problems))
    print(f"{TRIALS} trials: " + ", ".join(f"{n} {what}" for what, n in totals.items())
          + f"; {len(failed)} trial(s) with violations")
    assert not failed, f"{len(failed)} of {TRIALS} trials broke invariants ({totals}):\n" + "\n".join(
        f"  trial {trial}:\n" + "\n".join(f"    {p}" for p in problems) for trial, problems in failed[:5])
