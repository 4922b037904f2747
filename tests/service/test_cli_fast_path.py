"""`novatui server pause X` with a service running: the CLI process imports only what talking
HTTP to it needs (no engine, libvirt, paramiko, SQLite, aiohttp, Textual, cliff) and asks
the service three things: the instance by name, the action, the long poll for its end."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import make_config
from tests.crash.conftest import Cloud
from tests.invariants import ROOT, cli_env
from tests.service.process import ServeProcess

HEAVY = ("libvirt", "paramiko", "sqlite3", "sqlalchemy", "alembic", "psycopg", "aiohttp",
         "textual", "cliff", "httpx", "httpcore", "core.engine", "core.store",
         "core.store_db", "core.config")
# Runs the CLI in a process of its own, counting the HTTP requests it sends.
PROBE = """
import json, sys
from core import http_wire
asked, send = [], http_wire.Wire.request
def counted(self, method, path, **kw):
    asked.append(f"{method} {path}")
    return send(self, method, path, **kw)
http_wire.Wire.request = counted
from core.cli import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "modules": sorted(sys.modules), "asked": asked}))
"""


def test_a_verb_through_the_service_imports_and_asks_only_what_it_needs(tmp_path):
    make_config(tmp_path)
    cloud = Cloud(tmp_path / "hosts.toml", tmp_path / "state")
    svc = ServeProcess(cloud.config_path, cloud.dir)
    try:
        svc.start()
        cloud.ok("server", "create", "--flavor", "m1.tiny", "--image", "cirros", "web")
        uuid = cloud.instance("web")["uuid"]
        done = subprocess.run([sys.executable, "-c", PROBE, "--state-dir", str(cloud.dir),
                               "server", "pause", "web"], cwd=ROOT, env=cli_env(),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert out["rc"] == 0 and done.stderr == ""
        loaded = [m for m in out["modules"] if any(m == h or m.startswith(h + ".") for h in HEAVY)]
        assert loaded == []
        assert cloud.instance("web")["vm_state"] == "paused"
        assert out["asked"][:2] == ["GET /novatui/instances/web",
                                    f"POST /v2.1/servers/{uuid}/action"]
        assert len(out["asked"]) == 3 and out["asked"][2].startswith("GET /novatui/requests/")
    finally:
        svc.terminate()
        svc.close()
