"""A read-only engine drives no host and writes nothing: not the store, not the logs, not a
queued step, not a power-state sync."""
from __future__ import annotations

import hashlib

import pytest

from core.engine import Engine
from core.errors import ReadOnly
from tests.conftest import launch


def _digest(state_dir) -> dict:
    return {p.relative_to(state_dir): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(state_dir.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def test_read_only_engine_changes_nothing_with_work_queued(config, state_dir):
    with Engine(config, state_dir) as eng:
        inst = launch(eng, "watched")
    eng.store.start_action(inst["uuid"], "pause", "req-queued")
    eng.store.update_instance(inst["uuid"], task_state="pausing")
    eng.store.put_message(f"compute.{inst['host']}", {"method": "pause", "request_id": "req-queued",
                                                       "args": {"uuid": inst["uuid"]}})
    eng.store.update_instance(inst["uuid"], power_state=4)  # the store is behind the hypervisor
    eng.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = _digest(state_dir)
    with Engine(config, state_dir, read_only=True) as ro:
        assert ro.computes == {} and ro.in_flight() == []
        assert ro.instance("watched")["task_state"] == "pausing"
        with pytest.raises(ReadOnly):
            ro.request("stop", "watched")
        ro.settle(0.5)
    assert _digest(state_dir) == before
    assert len(ro.store.pending_messages()) == 1
