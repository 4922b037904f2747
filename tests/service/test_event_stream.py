"""The event stream as a client reads it off the wire: the snapshot, then a keepalive
comment whenever the stream has been quiet for KEEPALIVE_SECONDS, and the batches of what
changed in between, in order (the keepalives come from a task of the stream's own, so
that each batch is a plain get of the stream's queue)."""
from __future__ import annotations

import json
import time

from core.engine import Engine
from core.http_events import lines_of, sse_messages
from core.http_wire import Wire
from core.osapi import events
from core.service import Service
from tests.conftest import launch, make_config


def test_a_quiet_stream_gets_keepalives_and_changes_still_come_through(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "KEEPALIVE_SECONDS", 0.2)
    svc = Service(Engine(make_config(tmp_path), tmp_path / "state").start()).start()
    wire = Wire(svc.socket_url, socket_path=str(svc.socket_path))
    try:
        with wire.stream("/novatui/events", 10.0) as (response, _):
            assert response.status == 200
            lines = lines_of(response)
            first = next(sse_messages(lines))
            assert first[0] == "snapshot"
            start, keepalives = time.monotonic(), 0
            for line in lines:   # quiet: only comments come, about every 0.2 s
                keepalives += line == ": keepalive"
                if keepalives == 3:
                    break
            assert 0.4 < time.monotonic() - start < 5.0
            inst = launch(svc.engine, "streamed")
            names = set()
            for event, data in sse_messages(lines):
                if event == "batch":
                    names.update(i["instance"]["name"] for i in json.loads(data)
                                 if i["type"] == "instance")
                if "streamed" in names:
                    break
            assert inst["name"] in names
    finally:
        wire.close()
        svc.stop()
