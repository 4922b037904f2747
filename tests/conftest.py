"""Shared fixtures: an inventory of simulated hosts, engines on a temporary state dir, and
helpers that drive the engine the way the CLI does (request, then wait)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.config import load_config
from core.engine import Engine

ROOT = Path(__file__).resolve().parent.parent


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
