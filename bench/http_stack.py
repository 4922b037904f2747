"""Which HTTP server stack to serve the API with: aiohttp against starlette + uvicorn, each on
a Unix socket in a thread of its own (as the service runs), driven by the client novatui
uses (httpx, sync). Prints the median and p99 of a small request (a server action's 202)
and of a large one (1,000 instance records, as a console's snapshot), and the import time
of each server stack.

Needs the bench extra: .venv/bin/pip install -e '.[bench]'
Usage: python bench/http_stack.py [--requests 2000]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

RECORD = {"uuid": "6f1c0000-0000-4000-8000-000000000000", "name": "vm0000", "flavor": "m1.tiny",
          "vm_state": "active", "task_state": None, "power_state": 1, "host": "h00",
          "availability_zone": "az0", "ip": "10.0.0.2", "image": "cirros", "locked": False,
          "created_at": 1.0, "updated_at": 2.0, "launched_at": 1.5, "sys_meta": {}}
BIG = {"instances": [dict(RECORD, name=f"vm{i:04d}") for i in range(1000)]}


def serve_aiohttp(sock: str, ready: threading.Event) -> None:
    from aiohttp import web

    async def small(_):
        return web.Response(status=202)

    async def big(_):
        return web.json_response(BIG)

    async def main():
        app = web.Application()
        app.router.add_post("/small", small)
        app.router.add_get("/big", big)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.UnixSite(runner, sock).start()
        ready.set()
        await asyncio.Event().wait()
    asyncio.run(main())


def serve_starlette(sock: str, ready: threading.Event) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def small(_):
        return Response(status_code=202)

    async def big(_):
        return JSONResponse(BIG)

    app = Starlette(routes=[Route("/small", small, methods=["POST"]), Route("/big", big)])
    server = uvicorn.Server(uvicorn.Config(app, uds=sock, log_level="error", access_log=False,
                                           lifespan="off"))
    server.install_signal_handlers = lambda: None
    threading.Thread(target=lambda: (time.sleep(0.5), ready.set()), daemon=True).start()
    server.run()


def measure(sock: str, n: int) -> dict[str, list[float]]:
    client = httpx.Client(transport=httpx.HTTPTransport(uds=sock), base_url="http://localhost")
    out: dict[str, list[float]] = {"small": [], "big": []}
    for path, method, count in (("/small", "POST", n), ("/big", "GET", n // 10)):
        for _ in range(count):
            t = time.perf_counter()
            client.request(method, path).read()
            out[path[1:]].append(time.perf_counter() - t)
    client.close()
    return out


def import_ms(module: str) -> float:
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        runs.append(time.perf_counter() - t)
    base = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        base.append(time.perf_counter() - t)
    return (statistics.median(runs) - statistics.median(base)) * 1000


def p99(values):
    return sorted(values)[int(0.99 * (len(values) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    rows = []
    for name, serve, modules in (("aiohttp", serve_aiohttp, "aiohttp.web"),
                                 ("starlette+uvicorn", serve_starlette, "starlette.applications, uvicorn")):
        with tempfile.TemporaryDirectory() as tmp:
            sock = str(Path(tmp) / "api.sock")
            ready = threading.Event()
            threading.Thread(target=serve, args=(sock, ready), daemon=True).start()
            ready.wait(10)
            measure(sock, 200)  # warm up
            got = measure(sock, args.requests)
        rows.append((name, got, import_ms(modules)))
    print(f"httpx (sync) over a Unix socket, {args.requests} small and {args.requests // 10} "
          "large requests; times in ms")
    print(f"{'server':<18} {'202 med':>8} {'202 p99':>8} {'1000 rec med':>13} {'1000 rec p99':>13} "
          f"{'import':>7}")
    for name, got, imp in rows:
        print(f"{name:<18} {statistics.median(got['small']) * 1000:>8.2f} {p99(got['small']) * 1000:>8.2f} "
              f"{statistics.median(got['big']) * 1000:>13.2f} {p99(got['big']) * 1000:>13.2f} {imp:>7.0f}")


if __name__ == "__main__":
    main()
