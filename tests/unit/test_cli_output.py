"""The CLI's output and options as `openstack` users expect them (cliff's formatters,
openstack's column names), and its failures: a closed pipe, a fault's traceback, a mistyped
--state-dir, a name with a newline. Each command runs as a separate process, as in a shell."""
from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from core.config import validate_name
from core.errors import NovaError
from tests.conftest import ROOT, make_config

TINY = ("--flavor", "m1.tiny", "--image", "cirros")


class CLI:
    def __init__(self, config_path, state):
        self.config, self.state = config_path, state

    def __call__(self, *args, ok=True, env=None, stdout=subprocess.PIPE):
        p = subprocess.run([sys.executable, "-m", "core.cli", "--config", str(self.config), *args],
                           stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=90,
                           env={**os.environ, "NOVATUI_STATE_DIR": str(self.state), **(env or {})})
        if ok:
            assert p.returncode == 0, p.stderr
        return p

    def json(self, *args):
        return json.loads(self(*args, "-f", "json").stdout)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """web1 and web2 ACTIVE, db1 SHUTOFF: made once, only read by the tests that use it."""
    tmp = tmp_path_factory.mktemp("cli-output")
    cli = CLI(make_config(tmp).path, tmp / "state")
    for name in ("web1", "web2", "db1"):
        cli("server", "create", *TINY, name)
    cli("server", "stop", "db1")
    return cli


def one_line_refusal(p, *needles):
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1, p.stderr
    for needle in needles:
        assert needle in p.stderr, p.stderr


def header(table: str) -> list[str]:
    return [c.strip() for c in table.splitlines()[1].strip("|").split("|")]


# -- 17: output and options ------------------------------------------------------------
def test_server_list_has_the_openstack_columns(cloud):
    assert header(cloud("server", "list").stdout) == ["ID", "Name", "Status", "Networks", "Image",
                                                      "Flavor"]
    rows = cloud.json("server", "list")
    assert list(rows[0]) == ["ID", "Name", "Status", "Networks", "Image", "Flavor"]
    assert {r["Name"]: r["Status"] for r in rows} == {"web1": "ACTIVE", "web2": "ACTIVE",
                                                      "db1": "SHUTOFF"}
    assert all(r["Networks"]["private"][0].startswith("10.0.0.") for r in rows)
    assert "private=10.0.0." in cloud("server", "list").stdout
    long = cloud.json("server", "list", "--long")
    assert list(long[0]) == ["ID", "Name", "Status", "Task State", "Power State", "Networks",
                             "Image", "Flavor", "Availability Zone", "Host"]


def test_every_format_and_repeated_columns(cloud):
    assert yaml.safe_load(cloud("server", "list", "-f", "yaml", "-c", "Name").stdout) == [
        {"Name": n} for n in ("web1", "web2", "db1")]
    assert cloud("server", "list", "-f", "value", "-c", "Name", "-c", "Status").stdout == (
        "web1 ACTIVE\nweb2 ACTIVE\ndb1 SHUTOFF\n")
    rows = list(csv.reader(io.StringIO(cloud("server", "list", "-f", "csv", "-c", "Name",
                                             "-c", "host").stdout)))
    assert rows[0] == ["Name", "Host"] and [r[0] for r in rows[1:]] == ["web1", "web2", "db1"]
    shown = cloud("server", "show", "web1", "-f", "value", "-c", "status", "-c", "name").stdout
    assert shown == "web1\nACTIVE\n"  # in the order of the fields, as cliff does
    assert 'status="ACTIVE"' in cloud("server", "show", "web1", "-f", "shell").stdout
    one_line_refusal(cloud("server", "list", "-c", "Nmae", ok=False), "no column named 'Nmae'")
    one_line_refusal(cloud("server", "list", "-f", "xml", ok=False), "invalid choice: 'xml'")


def test_server_list_filters(cloud):
    names = lambda *a: [r["Name"] for r in cloud.json("server", "list", *a)]  # noqa: E731
    assert names("--status", "shutoff") == ["db1"]
    assert names("--status", "ACTIVE") == ["web1", "web2"]
    assert names("--name", "^web") == ["web1", "web2"]
    assert names("--name", "2$") == ["web2"]
    host = cloud.json("server", "show", "db1")["OS-EXT-SRV-ATTR:host"]
    on_host = [r["Name"] for r in cloud.json("server", "list", "--long") if r["Host"] == host]
    assert names("--host", host) == on_host
    one_line_refusal(cloud("server", "list", "--name", "(", ok=False), "not a regular expression")


def test_server_show_has_the_openstack_fields(cloud):
    shown = cloud.json("server", "show", "web1")
    for key in ("id", "name", "status", "addresses", "flavor", "image", "created", "updated",
                "OS-EXT-STS:vm_state", "OS-EXT-STS:task_state", "OS-EXT-STS:power_state",
                "OS-EXT-SRV-ATTR:host", "OS-EXT-AZ:availability_zone", "OS-SRV-USG:launched_at"):
        assert key in shown
    assert list(shown) == sorted(shown)
    assert header(cloud("server", "show", "web1").stdout) == ["Field", "Value"]


def test_flavor_show_and_list(cloud):
    assert cloud.json("flavor", "show", "m1.small") == {"disk": 20, "id": "m1.small",
                                                        "name": "m1.small", "ram": 2048, "vcpus": 1}
    assert header(cloud("flavor", "list").stdout) == ["ID", "Name", "RAM", "Disk", "VCPUs"]
    one_line_refusal(cloud("flavor", "show", "m1.huge", ok=False), "no flavor named 'm1.huge'")


def test_other_listings_use_openstack_columns(cloud):
    assert header(cloud("image", "list").stdout) == ["ID", "Name", "Status"]
    assert header(cloud("server", "event", "list", "web1").stdout) == [
        "Request ID", "Server ID", "Action", "Start Time"]
    # what tests/invariants.py reads from `host list -f json`
    host = cloud.json("host", "list")[0]
    for key in ("name", "vcpus_used", "memory_mb_used", "disk_gb_used"):
        assert key in host


def test_version(cloud):
    p = subprocess.run([sys.executable, "-m", "core.cli", "--version"], capture_output=True,
                       text=True, cwd=ROOT, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("novatui ") and p.stderr == ""


# -- 18: failures and input ------------------------------------------------------------
def test_a_closed_pipe_ends_quietly(cloud, tmp_path):
    """`novatui server list | head -1`: the reader is gone before we write."""
    err = tmp_path / "stderr"
    with open(err, "w") as e:
        proc = subprocess.Popen([sys.executable, "-m", "core.cli", "--config", str(cloud.config),
                                 "server", "list"], stdout=subprocess.PIPE, stderr=e, cwd=ROOT,
                                env={**os.environ, "NOVATUI_STATE_DIR": str(cloud.state)})
        proc.stdout.close()
        assert proc.wait(timeout=90) == 0
    assert err.read_text() == ""
    shell = subprocess.run(
        f"{sys.executable} -m core.cli --config {cloud.config} server list --long | head -1",
        shell=True, capture_output=True, text=True, cwd=ROOT, timeout=90,
        env={**os.environ, "NOVATUI_STATE_DIR": str(cloud.state)})
    assert shell.stderr == "" and shell.stdout.startswith("+--")


def test_a_faults_traceback_stays_out_of_the_show_table(tmp_path):
    cli = CLI(make_config(tmp_path).path, tmp_path / "state")
    uuid = cli.json("server", "create", *TINY, "vm")["id"]
    details = "Traceback (most recent call last):\n" + "  File \"x.py\", line 1\n" * 40 + "X" * 800
    db = sqlite3.connect(tmp_path / "state" / "novatui.db")
    with db:
        db.execute("INSERT INTO instance_faults (instance_uuid, code, message, details, host, "
                   "request_id, created_at) VALUES (?, 500, 'Disk copy failed', ?, 'cmp1', "
                   "'req-1', ?)", (uuid, details, time.time()))
    db.close()
    table = cli("server", "show", "vm").stdout
    assert "Disk copy failed" in table and "Traceback" not in table
    assert max(map(len, table.splitlines())) < 160
    fault = cli.json("server", "show", "vm")["fault"]
    assert (fault["message"], fault["code"], fault["details"]) == ("Disk copy failed", 500, details)


def test_a_mistyped_state_dir_is_refused_without_init(tmp_path):
    config = make_config(tmp_path).path
    typo = tmp_path / "stat"

    def run(*args, env=None):
        return subprocess.run([sys.executable, "-m", "core.cli", "--config", str(config), *args],
                              capture_output=True, text=True, cwd=ROOT, timeout=90,
                              env={**{k: v for k, v in os.environ.items()
                                      if k != "NOVATUI_STATE_DIR"}, **(env or {})})
    p = run("--state-dir", str(typo), "server", "list")
    one_line_refusal(p, f"state dir {typo} does not exist", "--init")
    assert not typo.exists()
    p = run("--state-dir", str(typo), "--init", "server", "list")
    assert p.returncode == 0, p.stderr
    assert (typo / "novatui.db").is_file()
    assert run("--state-dir", str(typo), "server", "list").returncode == 0  # it exists now
    # the default state dir is created when missing
    p = run("server", "list", env={"XDG_STATE_HOME": str(tmp_path / "xdg")})
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "xdg" / "novatui" / "novatui.db").is_file()


@pytest.mark.parametrize("name", ["web\n", "web\r", "\nweb", "we b"])
def test_a_name_with_a_newline_is_refused(tmp_path, name):
    cli = CLI(make_config(tmp_path).path, tmp_path / "state")
    p = cli("server", "create", *TINY, name, ok=False)
    one_line_refusal(p, f"invalid server name {name!r}")
    assert cli.json("server", "list") == []
    with pytest.raises(NovaError):
        validate_name("server", name)


def test_a_missing_server_in_a_list_leaves_the_others_alone(tmp_path):
    cli = CLI(make_config(tmp_path).path, tmp_path / "state")
    cli("server", "create", *TINY, "a")
    one_line_refusal(cli("server", "pause", "a", "b", ok=False),
                     "No server with a name or ID of 'b' exists.")
    assert cli.json("server", "show", "a")["status"] == "ACTIVE"
