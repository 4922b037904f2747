"""A console attached to `novatui serve` over TCP sees an `openstack` request as it happens:
its n-api access line in the pane, and the row. How soon is printed here and measured by
bench/fleet.py ("other process -> row"), never asserted: a test is no timer."""
from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime

from core.cli import attach
from tests.tui.conftest import close_console, ready, until
from tui.app import NovaApp

def written_at(log: str, marker: str) -> float:
    """When the service wrote the line containing `marker` (oslo's millisecond stamp)."""
    line = next(ln for ln in log.splitlines() if marker in ln)
    stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ", line)[1]
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()


async def test_an_attached_console_shows_an_openstack_request_at_once(service):
    created = service.json("server", "create", "--flavor", "m1.tiny", "--image", "cirros",
                           "--wait", "watched")
    uuid = created["id"]
    app = NovaApp(attach(service.url, False))
    try:
        async with app.run_test(size=(140, 45)) as pilot:
            await ready(pilot, app)
            await until(pilot, lambda: uuid in app.main.instances.records)
            marker = f'"POST /v2.1/servers/{uuid}/action HTTP/1.1" status: 202'
            pausing = asyncio.create_task(asyncio.to_thread(service.openstack, "server",
                                                            "pause", uuid))
            seen = None
            deadline = time.monotonic() + 60
            while seen is None and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
                if marker in app.main.logs.pane_text("n-api"):
                    seen = time.time()
            await pausing
            assert seen is not None, "the access line never reached the n-api pane"
            latency = seen - written_at(service.log("n-api"), marker)
            print(f"n-api line in the pane {latency * 1000:.0f} ms after it was written")
            await until(pilot, lambda: app.main.instances.records[uuid]["vm_state"] == "paused")
    finally:
        close_console(app)
    service.openstack("server", "delete", "--wait", uuid)
