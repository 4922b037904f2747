"""Hostile input to the CLI, run as a separate process as a script would: every bad config,
state dir or store is one line on stderr naming the thing and the reason, a non-zero exit,
no traceback, and nothing changed."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import load_config
from core.statedir import StoreMismatch, check_store_matches_hosts
from tests.conftest import ROOT, make_config

TINY = ("--flavor", "m1.tiny", "--image", "cirros")


class CLI:
    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.config = make_config(tmp_path).path
        self.state = tmp_path / "state"

    def __call__(self, *args, config=None, state=None, cwd=ROOT, umask=None, wrap=(), timeout=60,
                 init=True):
        """`init`: pass --init, which an explicit --state-dir needs to be created."""
        argv = [*wrap, sys.executable, "-m", "core.cli", "--config", str(config or self.config),
                "--state-dir", str(state or self.state), *(["--init"] if init else []), *args]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        kw = {} if umask is None else {"umask": umask}
        return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd,
                              timeout=timeout, **kw)

    def ok(self, *args, **kw):
        p = self(*args, **kw)
        assert p.returncode == 0, p.stderr
        return p

    def json(self, *args) -> list | dict:
        return json.loads(self.ok(*args, "-f", "json").stdout)

    def servers(self) -> dict:
        return {s["Name"]: s["Status"] for s in self.json("server", "list")}

    def actions(self, name: str) -> list[str]:
        return [a["Action"] for a in self.json("server", "event", "list", name)]

    def inventory(self, old: str, new: str) -> Path:
        text = self.config.read_text()
        assert old in text, old
        path = self.tmp / "edited.toml"
        path.write_text(text.replace(old, new, 1))
        return path


@pytest.fixture
def cli(tmp_path):
    return CLI(tmp_path)


def refused(p, *needles: str) -> str:
    """Exactly one line on stderr, from novatui, with no traceback and a non-zero exit."""
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("novatui"), p.stderr
    for needle in needles:
        assert needle in lines[0], p.stderr
    return lines[0]


def tree(root: Path) -> dict:
    """Every path under root with its mode and content hash: to show nothing changed."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
        out[str(p.relative_to(root))] = (stat.S_IMODE(st.st_mode), digest)
    return out


# -- the inventory ---------------------------------------------------------------------
def test_a_binary_config_is_refused(cli, tmp_path):
    path = tmp_path / "binary.toml"
    path.write_bytes(bytes(range(256)) * 4)
    refused(cli("server", "list", config=path), str(path), "is not UTF-8 text")
    assert not cli.state.exists()


def test_a_latin1_config_is_refused(cli, tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes("# café\n".encode("latin-1") + cli.config.read_bytes())
    refused(cli("server", "list", config=path), str(path), "is not UTF-8 text")
    assert not cli.state.exists()


@pytest.mark.parametrize("kind", ["/dev/zero", "directory", "fifo"])
def test_a_config_that_is_not_a_regular_file_is_refused_before_reading(cli, tmp_path, kind):
    path = Path(kind) if kind.startswith("/") else tmp_path / kind
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # nobody writes: reading it would wait for ever
    start = time.monotonic()
    refused(cli("server", "list", config=path, timeout=30), str(path), "is not a regular file")
    assert time.monotonic() - start < 20
    assert not cli.state.exists()


def test_a_config_larger_than_1_mib_is_refused(cli, tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(cli.config.read_text() + ("#" * 1023 + "\n") * 1024)
    refused(cli("server", "list", config=path), str(path), "is larger than 1 MiB")


@pytest.mark.parametrize("old,new,message", [
    ("ram_mb = 512", "ram_mb = 1000000000000000000000000000000",
     "flavors[0].ram_mb: must be at most 2147483647"),
    ("size_mb = 1", "size_mb = 99999999999999", "images[0].size_mb: must be at most 1048576 (1 TiB)"),
    ("vcpus = 8", "vcpus = 1000000000000000000000000000000", "hosts[0].vcpus: must be at most"),
])
def test_an_absurd_size_is_refused_naming_the_key(cli, old, new, message):
    path = cli.inventory(old, new)
    refused(cli("server", "create", *TINY, "vm", config=path), str(path), message)
    assert not cli.state.exists()


# -- the state dir ---------------------------------------------------------------------
def test_a_state_dir_that_is_a_file_is_refused(cli, tmp_path):
    state = tmp_path / "a-file"
    state.write_text("mine")
    refused(cli("server", "list", state=state), f"state dir {state} is not a directory")
    assert state.read_text() == "mine"


def test_a_state_dir_under_a_file_is_refused(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    refused(cli("server", "list", state=blocker / "state"), str(blocker / "state"),
            f"{blocker} is a file, not a directory")
    assert blocker.read_text() == "mine"


def test_a_read_only_state_dir_is_refused(cli):
    cli.ok("server", "create", *TINY, "vm")
    before = tree(cli.state)
    if os.geteuid() != 0:
        cli.state.chmod(0o500)
        try:
            p = cli("server", "list")
        finally:
            cli.state.chmod(0o700)
        refused(p, f"state dir {cli.state} is not writable: Permission denied")
    else:  # root writes through 0500: make it a read-only mount, in a namespace of its own
        remount = (f"mount --bind {cli.state} {cli.state} && "
                   f"mount -o remount,bind,ro {cli.state} {cli.state} || exit 97; exec \"$@\"")
        p = cli("server", "list", wrap=("unshare", "--mount", "--propagation", "private",
                                        "sh", "-c", remount, "sh"))
        if p.returncode == 97:  # no mount namespace here: a place root cannot write either
            p = cli("server", "list", state=Path("/sys/fs/novatui-state"))
            refused(p, "state dir /sys/fs/novatui-state cannot be created:")
        else:
            refused(p, f"state dir {cli.state} is not writable: Read-only file system")
    assert tree(cli.state) == before


def test_a_relative_state_dir_works(cli, tmp_path):
    cli.ok("server", "create", *TINY, "--wait-timeout", "30", "vm", state="rel-state", cwd=tmp_path,
           timeout=90)
    listing = json.loads(cli.ok("server", "list", "-f", "json", state="rel-state",
                                cwd=tmp_path).stdout)
    assert [(s["Name"], s["Status"]) for s in listing] == [("vm", "ACTIVE")]
    assert (tmp_path / "rel-state" / "novatui.db").is_file()


def test_a_directory_that_is_not_a_state_dir_is_not_taken_over(cli, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    home.chmod(0o755)
    before = tree(home)
    refused(cli("server", "list", state=home), f"state dir {home} is not empty",
            "not a novatui state dir")
    assert tree(home) == before and stat.S_IMODE(home.stat().st_mode) == 0o755


def test_read_only_needs_an_existing_state_dir(cli):
    refused(cli("--read-only", "server", "list"), f"state dir {cli.state} does not exist")
    assert not cli.state.exists()


# -- permissions -----------------------------------------------------------------------
def test_everything_in_the_state_dir_is_private_whatever_the_umask(cli):
    cli.ok("server", "create", *TINY, "vm", umask=0o022)
    s = cli.state
    assert stat.S_IMODE(s.stat().st_mode) == 0o700
    host = cli.json("server", "show", "vm")["OS-EXT-SRV-ATTR:host"]
    files = [s / "novatui.db", *s.glob("logs/*.log"), *s.glob("images/*"),
             s / "hosts" / host / "node.xml", *s.glob(f"hosts/{host}/instances/*/disk")]
    assert len(files) >= 7
    assert {str(f.relative_to(s)): oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {
        str(f.relative_to(s)): "0o600" for f in files}
    open_to_others = [str(p) for p in s.rglob("*") if not p.is_symlink() and p.stat().st_mode & 0o077]
    assert open_to_others == []


def test_a_state_dir_open_to_others_is_tightened_with_one_warning(cli, tmp_path):
    cli.ok("server", "create", *TINY, "vm")
    outside = tmp_path / "outside.txt"
    outside.write_text("not novatui's")
    outside.chmod(0o644)
    (cli.state / "link").symlink_to(outside)
    cli.state.chmod(0o755)
    (cli.state / "novatui.db").chmod(0o644)
    (cli.state / "logs").chmod(0o755)
    p = cli.ok("server", "list")
    assert p.stderr == (f"novatui: tightened permissions of {cli.state} (was 0755) and 2 more in it: "
                        "it holds guests' disks\n")
    assert stat.S_IMODE(cli.state.stat().st_mode) == 0o700
    assert stat.S_IMODE((cli.state / "novatui.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644  # a symlink is not followed
    assert cli.ok("server", "list").stderr == ""


def test_read_only_changes_no_permission(cli):
    cli.ok("server", "create", *TINY, "vm")
    cli.state.chmod(0o755)
    (cli.state / "novatui.db").chmod(0o644)
    before = tree(cli.state)
    p = cli.ok("--read-only", "server", "list")
    assert p.stderr == "" and stat.S_IMODE(cli.state.stat().st_mode) == 0o755
    after = tree(cli.state)
    for name in ("novatui.db-wal", "novatui.db-shm"):  # SQLite's reader files: not novatui's
        after.pop(name, None)
    assert after == before


# -- the store -------------------------------------------------------------------------
def _store_with_a_guest(cli) -> tuple[Path, dict]:
    cli.ok("server", "create", *TINY, "vm")
    db = cli.state / "novatui.db"
    assert not Path(f"{db}-wal").exists()  # the last connection checkpointed it
    return db, {n: n.read_bytes() for n in cli.state.glob("hosts/*/node.xml")}


@pytest.mark.parametrize("damage,message", [
    (lambda data: data[:len(data) // 2], "database disk image is malformed"),
    (lambda data: os.urandom(8192), "file is not a database"),
])
def test_a_damaged_store_is_refused(cli, damage, message):
    db, nodes = _store_with_a_guest(cli)
    db.write_bytes(damage(db.read_bytes()))
    damaged = db.read_bytes()
    line = refused(cli("server", "list"), f"novatui: state store {db}: {message}")
    assert "restore it from a backup" in line
    assert db.read_bytes() == damaged
    assert {n: n.read_bytes() for n in nodes} == nodes


def test_an_empty_store_over_existing_guests_is_refused(cli):
    """A zero-byte novatui.db is a lost database: starting afresh would orphan the guest."""
    db, nodes = _store_with_a_guest(cli)
    db.write_bytes(b"")
    for _ in range(2):  # and the refusal does not make the next start look normal
        refused(cli("server", "list"), f"the store {db} is empty or new", "holds 1 guest:",
                "Restore novatui.db from a backup")
    assert db.read_bytes() == b""
    assert {n: n.read_bytes() for n in nodes} == nodes


def test_a_store_held_locked_is_refused_in_bounded_time(cli):
    db, _ = _store_with_a_guest(cli)
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        start = time.monotonic()
        p = cli("server", "list", timeout=90)
        took = time.monotonic() - start
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    refused(p, f"state store {db}: database is locked", "another process holds it locked")
    assert took < 20
    assert cli.servers() == {"vm": "ACTIVE"}


# -- requests --------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_a_wait_timeout_must_be_a_positive_number(cli, value):
    cli.ok("server", "create", *TINY, "vm")
    p = cli("server", "pause", "--wait-timeout", value, "vm")
    assert p.returncode == 2
    refused(p, "novatui server pause: argument --wait-timeout: must be a positive number of seconds")
    assert cli.servers() == {"vm": "ACTIVE"}


@pytest.mark.parametrize("refs,message", [
    (["a", "ghost", "c"], "No server with a name or ID of 'ghost' exists."),
    (["a", "dup", "c"], "More than one server exists with the name 'dup'"),
    (["a", "c", "done"], "Cannot 'pause' instance"),
])
def test_one_bad_server_in_a_list_means_none_is_touched(cli, refs, message):
    for name in ("a", "c", "dup", "dup", "done"):
        cli.ok("server", "create", *TINY, name)
    cli.ok("server", "pause", "done")
    p = cli("server", "pause", *refs)
    assert p.returncode == 2
    refused(p, message)
    assert cli.servers() == {"a": "ACTIVE", "c": "ACTIVE", "dup": "ACTIVE", "done": "PAUSED"}
    assert cli.actions("a") == cli.actions("c") == ["create"]


def test_one_bad_image_in_a_list_means_none_is_deleted(cli):
    p = cli("image", "delete", "cirros", "ghost")
    assert p.returncode == 2
    refused(p, "No image with a name or ID of 'ghost' exists.")
    names = [i["Name"] for i in cli.json("image", "list")]
    assert names == ["cirros", "debian-12"]


# -- the store-matches-hosts check, in process ----------------------------------------
def test_a_fresh_store_over_hosts_with_guests_or_disks_is_a_mismatch(tmp_path):
    config = make_config(tmp_path)
    state = tmp_path / "state"
    check_store_matches_hosts(True, config, state)  # nothing anywhere: a new install
    (state / "hosts" / "cmp1").mkdir(parents=True)
    (state / "hosts" / "cmp1" / "node.xml").write_text("<node><domain/><domain/></node>")
    (state / "hosts" / "cmp2" / "instances" / "_base").mkdir(parents=True)
    check_store_matches_hosts(True, config, state.parent / "elsewhere")
    (state / "hosts" / "cmp2" / "instances" / "some-uuid").mkdir()
    check_store_matches_hosts(False, config, state)  # a store that existed knows its guests
    with pytest.raises(StoreMismatch) as err:
        check_store_matches_hosts(True, config, state)
    assert err.value.message == (
        f"the store {state}/novatui.db is empty or new, but host cmp1 holds 2 guests, host cmp2 "
        "holds 1 instance directory: the database was lost or replaced. Restore novatui.db from "
        f"a backup, or move {state} aside to start afresh; novatui will not start over guests it "
        "does not know")


def test_a_fresh_store_over_a_real_hosts_instances_is_a_mismatch(tmp_path):
    instances = tmp_path / "instances"
    (instances / "some-uuid").mkdir(parents=True)
    path = tmp_path / "real.toml"
    path.write_text((ROOT / "hosts.toml").read_text().replace(
        'name = "cmp1"\nuri = "test:///"',
        f'name = "cmp1"\nuri = "qemu:///system"\ninstances_path = "{instances}"', 1))
    with pytest.raises(StoreMismatch, match=f"host cmp1 holds 1 instance directory.*and the "
                       f"instance directories in {instances}"):
        check_store_matches_hosts(True, load_config(path), tmp_path / "state")
