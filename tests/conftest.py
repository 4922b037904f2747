"""Shared fixtures: an inventory of simulated hosts, engines on a temporary state dir, and
helpers that drive the engine the way the CLI does (request, then wait)."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.config import load_config
from core.engine import Engine

ROOT = Path(__file__).resolve().parent.parent


# -- in parallel: `-n 3 --dist loadgroup` (pyproject.toml) ------------------------------------
# Tests go to the workers one at a time, except those that share something: each such set is an
# xdist_group, and one worker runs the whole of it.
GROUPS = {
    # the machine's daemons: scripts/real-hosts, scripts/libvirtd2 and scripts/services use fixed
    # ports and directories, a session fixture starts them and stops them at its end, and
    # tests/distributed drives the real tier's libvirtd too
    "real": "daemons", "distributed": "daemons",
    "ssh": "ssh",   # its sshd, started once
}


def xdist_group(item: pytest.Item) -> str | None:
    try:
        rel = Path(str(item.path)).resolve().relative_to(ROOT / "tests")
    except ValueError:
        return None
    if rel.parts[0] in GROUPS:
        return GROUPS[rel.parts[0]]
    if "frozen" in item.fixturenames:  # the snapshots' fixed /tmp/novatui-snapshots
        return "snapshots"
    fixtures = getattr(item, "_fixtureinfo", None)
    if fixtures and any(defs[-1].scope == "module"
                        for defs in fixtures.name2fixturedefs.values() if defs):
        return rel.as_posix()  # its module's fixture built once, its tests in their order
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    if not getattr(config.option, "loadgroup", False):  # a worker of --dist loadgroup
        return
    for item in items:
        group = xdist_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


@contextmanager
def computes_held(engine: Engine, timeout: float = 10.0):
    """Every compute service of the engine busy until the block ends: what is cast meanwhile
    stays queued, so a request cannot finish before the test has sent the next one."""
    gate, busy = threading.Event(), threading.Semaphore(0)

    def hold():
        busy.release()
        gate.wait()

    held = [mgr.call(hold) for mgr in engine.computes.values()]
    for _ in held:
        assert busy.acquire(timeout=timeout), "a compute service did not take the hold"
    try:
        yield
    finally:
        gate.set()
    for call in held:
        call.result(timeout)


def make_config(tmp_path: Path, extra: str = "", replace: dict | None = None, sync: float = 0.2):
    text = (ROOT / "hosts.toml").read_text()
    text = text.replace("shutdown_timeout = 60", "shutdown_timeout = 1")
    text = text.replace("sync_power_state_interval = 60", f"sync_power_state_interval = {sync}")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "hosts.toml"
    path.write_text(text + extra)
    return load_config(path)


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path)


@pytest.fixture
def state_dir(tmp_path):
    return tmp_path / "state"


@pytest.fixture
def engine(config, state_dir):
    eng = Engine(config, state_dir).start()
    yield eng
    eng.stop()


def act(engine: Engine, action: str, ref: str, /, **params) -> dict:
    """Request an action, wait for it, return the instance as the store has it."""
    req = engine.request(action, ref, **params)
    engine.wait(req, timeout=30)
    return engine.store.get_instance(req.instance_uuid)


def launch(engine: Engine, name: str, flavor: str = "m1.tiny", image: str = "cirros",
           az: str | None = None) -> dict:
    req = engine.create(name, flavor, image, az)
    engine.wait(req, timeout=30)
    return engine.store.get_instance(req.instance_uuid)


def launch_on(engine: Engine, host: str, name: str, flavor: str = "m1.tiny",
              image: str = "cirros") -> dict:
    """Launched on `host` with no zone asked for (the other hosts disabled meanwhile), so
    that its moves may cross zones: an instance created in a zone stays in it."""
    others = [h.name for h in engine.config.hosts if h.name != host]
    for other in others:
        engine.submit(engine.api.set_host, other, False, "placing a test instance").result()
    try:
        return launch(engine, name, flavor, image)
    finally:
        for other in others:
            engine.submit(engine.api.set_host, other, True).result()


def domain(engine: Engine, inst: dict):
    """The libvirt domain of an instance, looked up on its host's own connection."""
    return engine.computes[inst["host"]].driver.conn.lookupByUUIDString(inst["uuid"])


def log_text(state_dir: Path, service: str) -> str:
    return (state_dir / "logs" / f"{service}.log").read_text()


def eventually(predicate, timeout: float = 5.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
