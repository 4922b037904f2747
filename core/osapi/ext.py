"""novatui's own extension (/novatui/...): the records the console and the CLI show, in the
store's shapes, so that an attached client shows exactly what an in-process one does. Every
change still goes through Nova's API; these are reads, plus a long poll for a request."""
from __future__ import annotations

import asyncio
import math
import os
import time

from aiohttp import web

from ..client import console_info, instance_detail, xml_sentence
from ..errors import NotFound
from ..logs import read_tail
from .actions_map import shown, shown_repr
from .common import ENGINE, READ_ONLY, BadRequest, fault, off_loop, read_row
from ..events import log_fields
from .events import HUB

MAX_WAIT_SECONDS = 60.0
XML_TIMEOUT_SECONDS = 10.0   # as core.client.domain_xml waits for a host's thread

routes = web.RouteTableDef()


def _engine(request):
    return request.app[ENGINE]


@routes.get("/novatui/info")
async def info(request: web.Request) -> web.Response:
    body = console_info(_engine(request))
    return web.json_response({**body, "pid": os.getpid(), "read_only": request[READ_ONLY]})


@routes.get("/novatui/instances")
async def instances(request: web.Request) -> web.Response:
    found = await off_loop(_engine(request).instances, request.query.get("host") or None)
    return web.json_response({"instances": found})


@routes.get("/novatui/instances/{ref}")
async def instance(request: web.Request) -> web.Response:
    engine = _engine(request)

    def read():
        inst = engine.instance(request.match_info["ref"])
        return {"instance": inst, "fault": engine.fault(inst["uuid"])}
    return web.json_response(await off_loop(read))


@routes.get("/novatui/instances/{ref}/actions")
async def actions(request: web.Request) -> web.Response:
    found = await off_loop(_engine(request).actions, request.match_info["ref"])
    return web.json_response({"actions": found})


@routes.get("/novatui/instances/{ref}/detail")
async def detail(request: web.Request) -> web.Response:
    return web.json_response(await off_loop(instance_detail, _engine(request),
                                            request.match_info["ref"]))


@routes.get("/novatui/instances/{ref}/xml")
async def xml(request: web.Request) -> web.Response:
    """The host's thread reads the XML: the loop waits for it, holding no worker thread
    while that thread is busy with something else."""
    engine, ref = _engine(request), request.match_info["ref"]
    future = await off_loop(lambda: engine.domain_xml(engine.api.get_instance(ref)))
    error = None
    if future is not None:
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), XML_TIMEOUT_SECONDS)
        except Exception as e:  # noqa: BLE001 - the host's failure or the timeout: shown
            error = e
    return web.json_response({"xml": xml_sentence(future, error)})


@routes.get("/novatui/hosts")
async def hosts(request: web.Request) -> web.Response:
    return web.json_response({"hosts": await off_loop(_engine(request).hosts)})


@routes.get("/novatui/images")
async def images(request: web.Request) -> web.Response:
    return web.json_response({"images": await off_loop(_engine(request).images.list)})


@routes.get("/novatui/images/{ref}")
async def image(request: web.Request) -> web.Response:
    store = _engine(request).images

    def read():
        found = store.get(request.match_info["ref"])
        return {"image": found, "users": store.users(found["id"])}
    return web.json_response(await off_loop(read))


@routes.get("/novatui/requests/{request_id}")
async def wait_request(request: web.Request) -> web.Response:
    """A long poll: the request's action once it has finished, or as it is when `timeout`
    seconds (at most 60) have passed; Nova's 503 when the service stops meanwhile."""
    store, hub = _engine(request).store, request.app[HUB]
    rid = request.match_info["request_id"]
    timeout = _timeout(request.query.get("timeout", "0"))
    deadline = time.monotonic() + timeout
    while True:
        finished = hub.finished
        action = await read_row(store, store.get_action, rid)
        if action is None:
            raise NotFound(f"Request {shown(rid)} could not be found.")
        left = deadline - time.monotonic()
        if action["finish_time"] is not None or left <= 0:
            return web.json_response({"action": action})
        if hub.closed or finished is None:
            return fault(503, f"The novatui service is stopping: request {rid} "
                              f"({action['action']}) has not finished yet")
        try:  # woken by any finished action; another process's is seen by the re-read
            await asyncio.wait_for(finished.wait(), min(left, 0.5))
        except asyncio.TimeoutError:
            pass


def _timeout(text: str) -> float:
    """The long poll's `timeout`: seconds, clamped to 0..MAX_WAIT_SECONDS; 400 when it is no
    number (nan included: it compares with nothing, and would never time out)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if math.isnan(seconds):
        raise BadRequest(f"Invalid timeout {shown_repr(text)}: a number of seconds is expected")
    return min(max(seconds, 0.0), MAX_WAIT_SECONDS)   # -inf: 0, inf: the most


@routes.get("/novatui/in-flight")
async def in_flight(request: web.Request) -> web.Response:
    """What this service carries between steps (Engine.in_flight): what a console that
    started it lists when it quits, and waits for."""
    return web.json_response({"in_flight": await off_loop(_engine(request).in_flight)})


@routes.get("/novatui/logs")
async def logs(request: web.Request) -> web.Response:
    lines = await off_loop(read_tail, _engine(request).state_dir / "logs")
    return web.json_response({"lines": [log_fields(ln) for ln in lines]})


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
