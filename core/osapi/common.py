"""What every handler shares: the engine, the request id, Nova's error bodies, running
blocking engine calls off the event loop, and the microversion a request asked for."""
from __future__ import annotations

import asyncio
import functools
import json
import re
from typing import Any, Callable

from aiohttp import web

from ..engine import Engine
from ..errors import NovaError

ENGINE: web.AppKey[Engine] = web.AppKey("engine", Engine)
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
READ_ONLY: web.RequestKey[bool] = web.RequestKey("read_only", bool)

MAX_BODY = 1 << 20   # JSON bodies; image data is streamed to disk, not read whole
MIN_VERSION = (2, 1)
MAX_VERSION = (2, 96)

# Nova's fault body names (nova/api/openstack/wsgi.py Fault._fault_names)
FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
               405: "badMethod", 409: "conflictingRequest", 413: "overLimit",
               415: "badMediaType", 429: "overLimit", 501: "notImplemented",
               503: "serviceUnavailable"}


def fault_body(code: int, message: str) -> dict:
    return {FAULT_NAMES.get(code, "computeFault"): {"code": code, "message": message}}


def fault(code: int, message: str) -> web.Response:
    return web.json_response(fault_body(code, message), status=code)


def nova_fault(exc: NovaError) -> web.Response:
    code = exc.code if exc.code in FAULT_NAMES or exc.code == 500 else 500
    return fault(code, exc.message)


def engine(request: web.Request) -> Engine:
    return request.app[ENGINE]


def request_id(request: web.Request) -> str:
    return request[REQUEST_ID]


async def api_call(request: web.Request, fn: Callable, *args, **kwargs) -> Any:
    """A request to the compute API, taken one at a time in the order it came, as an
    in-process request is. On SQLite it runs on the loop itself: its one transaction is
    about a millisecond, and the hops to the API thread and back were a sixth of a
    request's time (bench/burst.py, alternating launches: 286 against 241 requests/s). A writer of
    another process holding SQLite's lock makes the loop wait as long (busy_timeout);
    PostgreSQL's round trips go to the API thread."""
    eng = engine(request)
    if eng.store.dialect == "sqlite":
        return eng.call_api(fn, *args, **kwargs)
    return await asyncio.wrap_future(eng.submit(fn, *args, **kwargs))


async def off_loop(fn: Callable, *args, **kwargs) -> Any:
    """A blocking read (the store, a file) on a worker thread."""
    return await asyncio.get_running_loop().run_in_executor(
        None, functools.partial(fn, *args, **kwargs))


async def read_row(store, fn: Callable, *args) -> Any:
    """A read of one row by its key. SQLite in WAL mode never makes a reader wait for a
    writer, and the hop to a worker thread and back cost more than the read: on the loop.
    PostgreSQL's is a round trip to the server: on a worker thread."""
    if store.dialect == "sqlite":
        return fn(*args)
    return await off_loop(fn, *args)


class UnsupportedMediaType(NovaError):
    code = 415


async def json_body(request: web.Request) -> dict:
    """The request's JSON object, or Nova's 400 (415 when it is not sent as JSON: a web
    page's cross-site form post cannot send application/json without asking first).
    Bodies are at most MAX_BODY bytes (the app's client_max_size: 413 beyond)."""
    if request.content_type != "application/json" and request.can_read_body:
        raise UnsupportedMediaType(f"Unsupported Content-Type {request.content_type!r}: "
                                   "send application/json")
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("Malformed request body") from None
    if not isinstance(body, dict):
        raise BadRequest("Malformed request body: a JSON object is expected")
    return body


class BadRequest(NovaError):
    code = 400


_VERSION = re.compile(r"(\d{1,4})\.(\d{1,4})")


def microversion(request: web.Request) -> tuple[int, int]:
    """The compute microversion asked for (OpenStack-API-Version: compute 2.X, or the older
    X-OpenStack-Nova-API-Version), the minimum when none; 'latest' is the maximum. A version
    outside the range is Nova's 406."""
    asked = None
    header = request.headers.get("OpenStack-API-Version", "")
    for part in header.split(","):
        service, _, version = part.strip().partition(" ")
        if service.lower() == "compute":
            asked = version.strip()
    if asked is None:
        asked = request.headers.get("X-OpenStack-Nova-API-Version")
    if not asked:
        return MIN_VERSION
    if asked.lower() == "latest":
        return MAX_VERSION
    m = _VERSION.fullmatch(asked.strip())
    if m is None:
        raise web.HTTPBadRequest(text=json.dumps(fault_body(
            400, f"API Version String {asked[:40]!r} is of invalid format. Must be of format "
                 "MajorNum.MinorNum.")), content_type="application/json")
    version = (int(m[1]), int(m[2]))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise web.HTTPNotAcceptable(text=json.dumps(fault_body(
            406, f"Version {asked} is not supported by the API. Minimum is "
                 f"{MIN_VERSION[0]}.{MIN_VERSION[1]} and maximum is "
                 f"{MAX_VERSION[0]}.{MAX_VERSION[1]}.")), content_type="application/json")
    return version


def version_string(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def versioned(handler):
    """A /v2.1 handler whose responses say which microversion answered, as Nova's do."""
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        version = version_string(microversion(request))
        response = await handler(request)
        response.headers["OpenStack-API-Version"] = f"compute {version}"
        response.headers["X-OpenStack-Nova-API-Version"] = version
        response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return response
    return wrapped
