"""The headless CLI as a script uses it: separate processes, JSON out, exit codes, one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.engine import Engine
from tests.conftest import ROOT, make_config


@pytest.fixture
def cli(tmp_path):
    config = make_config(tmp_path)
    env = {**os.environ, "NOVATUI_STATE_DIR": str(tmp_path / "state")}

    def run(*args, ok=True):
        p = subprocess.run([sys.executable, "-m", "core.cli", "--config", str(config.path), *args],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
        if ok:
            assert p.returncode == 0, p.stderr
        return p
    run.config = config
    run.state_dir = tmp_path / "state"
    return run


def js(p):
    return json.loads(p.stdout)


def test_server_lifecycle_through_the_cli(cli):
    created = js(cli("server", "create", "--flavor", "m1.small", "--image", "cirros", "web1", "-f", "json"))
    for key in ("id", "name", "status", "OS-EXT-STS:vm_state", "OS-EXT-STS:task_state",
                "OS-EXT-STS:power_state", "OS-EXT-SRV-ATTR:host", "OS-EXT-AZ:availability_zone",
                "flavor", "image", "addresses", "locked", "created", "fault"):
        assert key in created
    assert (created["status"], created["flavor"], created["image"]) == ("ACTIVE", "m1.small", "cirros")
    assert created["addresses"] == {"private": ["10.0.0.2"]}
    cli("server", "pause", "web1")
    shown = js(cli("server", "show", created["id"], "-f", "json"))
    assert (shown["status"], shown["OS-EXT-STS:power_state"]) == ("PAUSED", "Paused")
    cli("server", "unpause", "web1")
    cli("server", "reboot", "--hard", "web1")
    cli("server", "lock", "web1")
    refused = cli("server", "stop", "web1", ok=False)
    assert refused.returncode != 0
    assert refused.stderr == f"novatui: Instance {created['id']} is locked\n"
    cli("server", "unlock", "web1")
    listing = js(cli("server", "list", "--long", "-f", "json"))
    assert [(s["Name"], s["Status"], s["Task State"], s["Host"]) for s in listing] == [
        ("web1", "ACTIVE", None, created["OS-EXT-SRV-ATTR:host"])]
    events = js(cli("server", "event", "list", "web1", "-f", "json"))
    assert [e["Action"] for e in events] == ["create", "pause", "unpause", "reboot", "lock", "unlock"]
    hosts = js(cli("host", "list", "-f", "json"))
    host = next(h for h in hosts if h["name"] == created["OS-EXT-SRV-ATTR:host"])
    assert (host["state"], host["enabled"], host["vcpus_used"], host["memory_mb_used"]) == ("up", True, 1, 2048)
    for key in ("name", "state", "enabled", "vcpus_used", "vcpus", "memory_mb_used", "memory_mb"):
        assert key in host
    assert "m1.xlarge" in cli("flavor", "list").stdout
    assert [i["Name"] for i in js(cli("image", "list", "-f", "json"))] == ["cirros", "debian-12"]
    cli("server", "delete", "web1")
    assert js(cli("server", "list", "-f", "json")) == []


@pytest.mark.parametrize("args,message", [
    (["server", "pause", "ghost"], "novatui: No server with a name or ID of 'ghost' exists."),
    (["server", "create", "--flavor", "m1.huge", "--image", "cirros", "x"], "novatui: no flavor named 'm1.huge'"),
    (["server", "create", "--flavor", "m1.tiny", "--image", "nope", "x"], "novatui: No image with a name or ID of 'nope' exists."),
    (["server", "create", "--flavor", "m1.tiny", "--image", "cirros", "bad/name"], "novatui: invalid server name 'bad/name'"),
    (["server", "frobnicate", "x"], "novatui server: argument verb: invalid choice: 'frobnicate'"),
    (["server", "create", "x"], "novatui server create: the following arguments are required: --flavor, --image"),
    (["--config", "/nonexistent.toml", "server", "list"], "novatui: /nonexistent.toml: no such file"),
    (["server"], "novatui server: a command is needed"),
    (["compute"], "novatui compute: the following arguments are required: --host"),
    (["compute", "--host", "ghost"], "novatui: no host named 'ghost' in "),
    (["--read-only", "compute", "--host", "cmp1"], "novatui compute: an agent drives its host"),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(cli, args, message):
    p = cli(*args, ok=False)
    assert p.returncode == 2
    assert p.stderr.startswith(message) and p.stderr.count("\n") == 1, p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_a_forbidden_action_changes_nothing(cli):
    cli("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "vm")
    before = js(cli("server", "event", "list", "vm", "-f", "json"))
    p = cli("server", "resume", "vm", ok=False)
    assert p.returncode == 2 and "while it is in vm_state active" in p.stderr
    assert js(cli("server", "event", "list", "vm", "-f", "json")) == before
    assert js(cli("server", "show", "vm", "-f", "json"))["status"] == "ACTIVE"


def test_read_only_refuses_changes(cli):
    cli("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "vm")
    p = cli("--read-only", "server", "stop", "vm", ok=False)
    assert p.returncode == 2 and p.stderr == "novatui: novatui is in read-only mode: 'stop' refused\n"
    assert js(cli("server", "show", "vm", "-f", "json"))["status"] == "ACTIVE"


def test_cli_acts_through_a_running_console_sharing_the_store(cli):
    """With another process driving the hosts, the CLI's request is done by that process."""
    with Engine(cli.config, cli.state_dir) as console:
        cli("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "shared")
        cli("server", "pause", "shared")
        assert console.instance("shared")["vm_state"] == "paused"


def test_the_cli_never_imports_textual():
    code = ("import sys, core.cli, core.engine; "
            "sys.exit(1 if any(m.split('.')[0] == 'textual' for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_the_cli_of_a_running_service_imports_no_heavy_library():
    """Every `novatui server ...` process pays for its imports before its first line: the
    HTTP path (core.http_client on h11) loads no libvirt, paramiko, SQLAlchemy or aiohttp,
    and neither http.client nor ssl (with the email parser, 20-30 ms of each call's start)."""
    heavy = ("http.client", "ssl", "email.parser", "httpx", "libvirt", "paramiko", "sqlalchemy",
             "aiohttp", "textual")
    code = ("import sys, core.cli, core.http_client, core.cli_output, core.cli_views; "
            f"print(' '.join(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    assert loaded == []
