"""The service tier: a real `novatui serve` (a subprocess, on a free loopback port) driven
by the real `openstack` CLI, with novatui's own view read from its store (read-only) after
each step."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.store import Store
from tests.conftest import make_config
from tests.service.process import ServeProcess, free_port

OPENSTACK = Path(sys.executable).parent / "openstack"    # the venv's
START_SECONDS = 60.0
OPENSTACK_SECONDS = 120.0


@dataclass
class Service:
    url: str
    state: Path
    env: dict
    store: Store

    def openstack(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`openstack ARGS`; with check, a non-zero exit fails the test with its stderr."""
        done = subprocess.run([str(OPENSTACK), *args], env=self.env, text=True,
                              capture_output=True, timeout=OPENSTACK_SECONDS)
        if check and done.returncode != 0:
            pytest.fail(f"openstack {' '.join(args)} exited {done.returncode}: "
                        f"{done.stderr.strip()[-1500:]}")
        return done

    def json(self, *args: str):
        return json.loads(self.openstack(*args, "-f", "json").stdout)

    def log(self, service: str) -> str:
        return (self.state / "logs" / f"{service}.log").read_text()


def _computes_up(url: str) -> None:
    """Until every nova-compute service of the new service is up (hosts come up after it
    listens)."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/v2.1/os-services?binary=nova-compute", timeout=5) as r:
            services = json.loads(r.read())["services"]
        if services and all(s["state"] == "up" for s in services):
            return
        time.sleep(0.2)
    pytest.fail(f"the compute services did not come up within {START_SECONDS:.0f} s")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("service")
    make_config(tmp)
    state = tmp / "state"
    proc = ServeProcess(tmp / "hosts.toml", state, "--listen", f"127.0.0.1:{free_port()}")
    try:
        url = proc.start(timeout=START_SECONDS)["url"]
        _computes_up(url)
        (tmp / "clouds.yaml").write_text(
            "clouds:\n  novatui:\n    auth_type: none\n"
            f"    compute_endpoint_override: {url}/v2.1\n"
            f"    image_endpoint_override: {url}/image\n"
            f"    identity_endpoint_override: {url}/identity\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(OS_CLIENT_CONFIG_FILE=str(tmp / "clouds.yaml"), OS_CLOUD="novatui",
                   HOME=str(tmp))   # no ~/.config/openstack of the user's
        store = Store(state / "novatui.db", read_only=True)
        yield Service(url, state, env, store)
        store.close()
    finally:
        try:
            proc.terminate()
        except subprocess.TimeoutExpired:
            pass
        proc.close()
