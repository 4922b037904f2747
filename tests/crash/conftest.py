"""The crash tier's harness: a cloud of three simulated hosts driven only through the CLI (one
process per command, as an operator's shell runs them), a template state built once per
session and restored before every run, and the crash hook of core/crashpoints.py.

NOVATUI_SOAK=1 (`make soak`) makes every part longer: each crash point several times, more
operation variants, more hypothesis examples, 50 no-wait trials.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import make_config
from tests.invariants import check, cli, cli_env, sha256

SOAK = os.environ.get("NOVATUI_SOAK") == "1"
WAIT = ("--wait-timeout", "30")   # an operation that hangs fails, it does not stall the tier
KILLED = -9


class Cloud:
    """A state dir and its config, and the commands an operator runs on them."""

    def __init__(self, config_path: Path, state_dir: Path):
        self.config_path, self.dir = Path(config_path), Path(state_dir)

    def run(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return cli(self.config_path, self.dir, *args, env=env)

    def ok(self, *args: str) -> subprocess.CompletedProcess:
        p = self.run(*args)
        assert p.returncode == 0, f"novatui {' '.join(args)} -> {p.returncode}: {p.stderr}"
        return p

    def restart(self) -> list[str]:
        """A new process (`server list`): its start recovers, its exit lets work settle.
        Returns what went wrong with it, if anything."""
        p = self.run("server", "list")
        said = p.stderr.strip() if p.returncode is None else p.stderr.strip()[-300:]  # stacks
        return [] if p.returncode == 0 else [f"[cli] restart (server list) -> {p.returncode}: "
                                              f"{said}"]

    def rows(self, sql: str, *args) -> list[dict]:
        db = sqlite3.connect(f"file:{self.dir / 'novatui.db'}?mode=ro", uri=True, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute(sql, args)]
        finally:
            db.close()

    def instance(self, name: str) -> dict:
        found = self.rows("SELECT * FROM instances WHERE name=? AND deleted_at IS NULL", name)
        assert len(found) == 1, f"{len(found)} live instances named {name}"
        return found[0]

    def live_uuids(self) -> set[str]:
        return {r["uuid"] for r in self.rows("SELECT uuid FROM instances WHERE deleted_at IS NULL")}

    def image_sha(self, name: str) -> str:
        return self.rows("SELECT checksum FROM images WHERE name=? AND type='image'", name)[0]["checksum"]

    def disk(self, inst: dict) -> Path:
        return self.dir / "hosts" / inst["host"] / "instances" / inst["uuid"] / "disk"

    def create(self, name: str) -> tuple[str, str]:
        """Launch, then write bytes only this guest has into its disk (so a disk re-made from
        the image can be told from it). Returns (uuid, the disk's sha256)."""
        self.ok("server", "create", "--flavor", "m1.tiny", "--image", "cirros", name)
        inst = self.instance(name)
        with open(self.disk(inst), "r+b") as f:
            f.seek(4096)
            f.write(f"data of {name}".encode())
        return inst["uuid"], sha256(self.disk(inst))

    def check(self, expected_sha: dict[str, set[str]]) -> list[str]:
        return check(self.dir, self.config_path, expected_sha)


@dataclass
class Template:
    """A resting state with one instance for every operation to act on, saved aside."""
    cloud: Cloud
    backup: Path
    uuids: dict[str, str]              # name -> uuid
    sha: dict[str, set[str]]           # uuid -> the disk content it must keep
    images: dict[str, str] = field(default_factory=dict)  # image name -> sha256
    discovered: dict = field(default_factory=dict)        # op name -> discover()'s answer

    def restore(self) -> Cloud:
        """The saved state, at the same path (node files and the store hold absolute paths)."""
        shutil.rmtree(self.cloud.dir, ignore_errors=True)
        shutil.copytree(self.backup, self.cloud.dir, symlinks=True)
        return self.cloud

    def expected(self, changed: dict[str, str] | None = None) -> dict[str, set[str]]:
        """What each disk may hold: its own content, or for the names in `changed` also that
        image's (a rebuild or evacuate re-makes the disk from it); instances that did not
        exist in the template (a create) hold the image they were launched from (cirros)."""
        exp = {u: set(v) for u, v in self.sha.items()}
        for name, image in (changed or {}).items():
            exp[self.uuids[name]].add(self.images[image])
        for uuid in self.cloud.live_uuids() - set(exp):
            exp[uuid] = {self.images["cirros"]}
        return exp


def crash_config(folder: Path) -> Path:
    """hosts.toml for tests (short shutdown and sync), with a cirros of 2 MiB so a disk copy
    takes two chunks and a crash can land between them."""
    folder.mkdir(parents=True, exist_ok=True)
    return make_config(folder, replace={"size_mb = 1\n": "size_mb = 2\n"}).path


def build_template(root: Path, build) -> Template:
    """Run `build(cloud) -> {name: (uuid, sha)}` once on a fresh state dir, check that it
    is clean, and keep a copy to restore."""
    cloud = Cloud(crash_config(root / "config"), root / "state")
    cloud.dir.mkdir(mode=0o700)  # an explicit --state-dir must exist (or take --init)
    made = build(cloud)
    t = Template(cloud, root / "backup", {n: u for n, (u, _) in made.items()},
                 {u: {s} for u, s in made.values()},
                 {n: cloud.image_sha(n) for n in ("cirros", "debian-12")})
    problems = cloud.check(t.expected())
    assert not problems, "the template state is not clean:\n" + "\n".join(problems)
    shutil.copytree(cloud.dir, t.backup, symlinks=True)
    return t


def resting_states(cloud: Cloud) -> dict[str, tuple[str, str]]:
    """a1 ACTIVE, s1 STOPPED, v1 VERIFY_RESIZE (after a waited migrate), h1 SHELVED_OFFLOADED."""
    made = {name: cloud.create(name) for name in ("a1", "s1", "v1", "h1")}
    cloud.ok("server", "stop", "s1")
    cloud.ok("server", "migrate", "v1")
    cloud.ok("server", "shelve", "h1")
    return made


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Template:
    return build_template(tmp_path_factory.mktemp("crash-template"), resting_states)


# -- the crash hook ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    """One operation of the campaign: its CLI words (naming a template instance), the image
    an instance's disk may legitimately be re-made from, and whose host goes down first."""
    name: str
    args: tuple[str, ...]
    remade: dict = field(default_factory=dict)   # instance name -> image
    down: str | None = None                      # instance name whose host goes down first

    def prepare(self, t: Template) -> Cloud:
        cloud = t.restore()
        if self.down:
            host = cloud.instance(self.down)["host"]
            cloud.ok("host", "disable", "--down", host)
        return cloud


@dataclass
class Run:
    returncode: int | None
    trace: list[str]
    stderr: str

    def reached(self, name: str, nth: int) -> bool:
        return self.trace.count(name) >= nth


def run_op(cloud: Cloud, op: Op, crash_at: str | None = None) -> Run:
    """The operation in one process, with its crash points traced (and one armed)."""
    trace = cloud.dir.parent / "crash-trace"
    trace.unlink(missing_ok=True)
    extra = {"NOVATUI_CRASH_TRACE": str(trace)}
    if crash_at:
        extra["NOVATUI_CRASH_AT"] = crash_at
    p = cloud.run(*op.args, env=cli_env(**extra))
    names = trace.read_text().split() if trace.exists() else []
    trace.unlink(missing_ok=True)
    return Run(p.returncode, names, p.stderr)


def occurrences(trace: list[str]) -> list[tuple[str, int]]:
    """Each (name, n) of a trace: the n-th time the process reached that point."""
    seen: Counter = Counter()
    out = []
    for name in trace:
        seen[name] += 1
        out.append((name, seen[name]))
    return out


def crash_and_check(t: Template, op: Op, name: str, nth: int) -> list[str]:
    """Kill the operation's process the nth time it reaches `name`, restart, check. Returns
    the violations, and what went wrong with the processes."""
    cloud = op.prepare(t)
    run = run_op(cloud, op, f"{name}#{nth}")
    problems = []
    if run.reached(name, nth) and run.returncode != KILLED:
        problems.append(f"[hook] reached {name}#{nth} but exited {run.returncode}")
    elif not run.reached(name, nth) and run.returncode not in (0, 1, 2):
        problems.append(f"[hook] did not reach {name}#{nth} and exited {run.returncode}: "
                        f"{run.stderr.strip()[-300:]}")
    problems += cloud.restart()
    return problems + cloud.check(t.expected(op.remade))


def discover(t: Template, op: Op) -> tuple[list[tuple[str, int]], list[str]]:
    """Run the operation once, uncrashed (once per session): the points it passes, and what
    that run itself, then a restart, broke."""
    if op.name not in t.discovered:
        cloud = op.prepare(t)
        run = run_op(cloud, op)
        assert run.returncode == 0, f"{op.name} fails without a crash: {run.stderr}"
        points = occurrences(run.trace)
        assert points, (f"{op.name} reached no crash point: core does not call "
                        "core.crashpoints.crash_point on its path, so it cannot be crashed")
        t.discovered[op.name] = points, cloud.restart() + cloud.check(t.expected(op.remade))
    return t.discovered[op.name]


def report(data) -> None:
    """One JSON line to $NOVATUI_CRASH_REPORT, when it is set (for summaries)."""
    target = os.environ.get("NOVATUI_CRASH_REPORT")
    if target:
        with open(target, "a") as f:
            f.write(json.dumps(data) + "\n")


# -- the operations, each from the template's resting states ------------------------------------
OPS = [
    Op("create", ("server", "create", *WAIT, "--flavor", "m1.tiny", "--image", "cirros", "c1")),
    Op("migrate", ("server", "migrate", *WAIT, "a1")),
    Op("resize", ("server", "resize", *WAIT, "--flavor", "m1.small", "s1")),
    Op("confirm", ("server", "resize", *WAIT, "confirm", "v1")),
    Op("revert", ("server", "resize", *WAIT, "revert", "v1")),
    Op("shelve", ("server", "shelve", *WAIT, "a1")),
    Op("unshelve", ("server", "unshelve", *WAIT, "h1")),
    Op("snapshot", ("server", "image", "create", *WAIT, "--name", "a1-snap", "a1")),
    Op("rebuild", ("server", "rebuild", *WAIT, "a1"), remade={"a1": "cirros"}),
    Op("evacuate", ("server", "evacuate", *WAIT, "a1"), remade={"a1": "cirros"}, down="a1"),
    Op("delete", ("server", "delete", *WAIT, "a1")),
]
# Under soak, the same steps from other states: a stopped guest, a running one resized, a
# resized or shelved one deleted.
SOAK_OPS = [
    Op("migrate-stopped", ("server", "migrate", *WAIT, "s1")),
    Op("resize-running", ("server", "resize", *WAIT, "--flavor", "m1.small", "a1")),
    Op("shelve-stopped", ("server", "shelve", *WAIT, "s1")),
    Op("snapshot-stopped", ("server", "image", "create", *WAIT, "--name", "s1-snap", "s1")),
    Op("rebuild-debian", ("server", "rebuild", *WAIT, "--image", "debian-12", "s1"),
       remade={"s1": "debian-12"}),
    Op("evacuate-stopped", ("server", "evacuate", *WAIT, "s1"), remade={"s1": "cirros"}, down="s1"),
    Op("delete-resized", ("server", "delete", *WAIT, "v1")),
    Op("delete-shelved", ("server", "delete", *WAIT, "h1")),
]
