"""Make screenshots/*.svg from the real console on simulated hosts (run: make screenshots).

main.svg       the main screen with instances in several states
main-80x24.svg the same at 80x24, with a host near full
detail.svg     the detail screen of an instance in ERROR
migration.svg  a cold migration while its disk is being copied
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import load_config  # noqa: E402
from core.cli import embed  # noqa: E402
from core.engine import Engine  # noqa: E402
from tui.app import NovaApp  # noqa: E402

OUT = ROOT / "screenshots"


def inventory(tmp: Path) -> Path:
    text = (ROOT / "hosts.toml").read_text()
    # a big image for "bulk", so that its migration is slow enough to be seen
    text += '\n[[images]]\nname = "bulk"\nsize_mb = 768\n'
    path = tmp / "hosts.toml"
    path.write_text(text)
    return path


def populate(engine: Engine) -> None:
    def run(action, ref, **kw):
        engine.wait(engine.request(action, ref, **kw))

    for name, flavor, az in (("web-frontend-01", "m1.small", None),
                             ("web-frontend-02", "m1.small", "az1"),
                             ("billing-api", "m1.medium", None), ("etl-batch-nightly", "m1.large", "az1"),
                             ("postgres-primary", "m1.large", None), ("redis-cache", "m1.tiny", "az1"),
                             ("broken", "m1.tiny", None)):
        engine.wait(engine.create(name, flavor, "cirros", az))
    engine.wait(engine.create("bulk1", "m1.small", "bulk"))  # no zone asked: it may move to az2
    fill_cmp1(engine)
    run("pause", "etl-batch-nightly")
    run("suspend", "redis-cache")
    run("stop", "postgres-primary")
    run("lock", "postgres-primary")
    run("resize", "billing-api", flavor="m1.large")
    broken = engine.instance("broken")
    # made transient behind the engine's back: libvirt refuses its managed save -> ERROR
    engine.computes[broken["host"]].driver.conn.lookupByUUIDString(broken["uuid"]).undefine()
    run("suspend", "broken")


def fill_cmp1(engine: Engine) -> None:
    """cmp1 near full on RAM (its limit after the 1.5 ratio), to show the colour."""
    others = [h.name for h in engine.config.hosts if h.name != "cmp1"]
    for host in others:
        engine.submit(engine.api.set_host, host, False, "placing").result()
    for name, flavor in (("analytics-warehouse", "m1.xlarge"), ("search-indexer", "m1.medium"),
                         ("ci-runner-07", "m1.small")):
        engine.wait(engine.create(name, flavor, "cirros"))
    for host in others:
        engine.submit(engine.api.set_host, host, True).result()


async def shoot() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="novatui-shots-") as tmp:
        tmp = Path(tmp)
        config = load_config(inventory(tmp))
        engine = Engine(config, tmp / "state").start()
        populate(engine)
        client, service = embed(engine)
        try:
            app = NovaApp(client, service)
            async with app.run_test(size=(150, 44)) as pilot:
                await pilot.pause(1.0)
                table = app.main.instances
                table.move_cursor(row=0)
                await pilot.pause(0.3)
                app.save_screenshot(str(OUT / "main.svg"))
                await pilot.resize_terminal(80, 24)
                await pilot.pause(0.5)
                app.save_screenshot(str(OUT / "main-80x24.svg"))
                await pilot.resize_terminal(150, 44)
                await pilot.pause(0.5)

                table.move_cursor(row=table.get_row_index(engine.instance("broken")["uuid"]))
                await pilot.press("enter")
                await pilot.pause(0.8)
                app.save_screenshot(str(OUT / "detail.svg"))
                await pilot.press("escape")

                bulk = engine.instance("bulk1")
                table.move_cursor(row=table.get_row_index(bulk["uuid"]))
                app.main.logs.narrow(instance=bulk["uuid"])
                await pilot.press("m")
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    await pilot.pause(0.02)
                    row = table.get_row(bulk["uuid"])
                    if "resize_migrating" in str(row[3]) and "%" in str(row[3]):
                        break
                app.save_screenshot(str(OUT / "migration.svg"))
                while engine.instance("bulk1")["task_state"]:
                    await pilot.pause(0.1)
        finally:
            client.close()
            service.stop()
    for name in ("main", "main-80x24", "detail", "migration"):
        print(OUT / f"{name}.svg")


if __name__ == "__main__":
    asyncio.run(shoot())
