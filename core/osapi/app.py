"""The aiohttp application: every request gets Nova's request id header, Nova's error
bodies, the token check, the read-only check and the n-api access line, in that order."""
from __future__ import annotations

import time
import uuid as uuidlib

from aiohttp import web

from ..engine import Engine
from ..errors import NovaError
from .auth import AUTH, Auth, transport_kind
from .common import ENGINE, MAX_BODY, READ_ONLY, REQUEST_ID, fault, fault_body, nova_fault

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# novatui's own extension (the console's records and event stream) writes no access line:
# the n-api pane and log keep the Compute and Image API requests, as nova-api's would.
QUIET_PATHS = ("/novatui/",)


def _peer(request: web.Request) -> str:
    """The client's address as nova-api logs it; a Unix-socket client is 'local'."""
    return request.remote or "local"


@web.middleware
async def nova_request(request: web.Request, handler) -> web.StreamResponse:
    rid = f"req-{uuidlib.uuid4()}"
    request[REQUEST_ID] = rid
    start = time.monotonic()
    log = request.app[ENGINE].api.wsgi
    try:
        response = await handler(request)
    except NovaError as e:
        log.info(f"HTTP exception thrown: {e.message}", ctx=rid, logger="nova.api.openstack.wsgi")
        response = nova_fault(e)
    except web.HTTPException as e:
        if e.content_type == "application/json":  # ours, with Nova's body already
            response = web.Response(status=e.status, text=e.text, content_type=e.content_type)
        else:  # aiohttp's own: no route, bad method
            response = fault(e.status, "The resource could not be found." if e.status == 404
                             else e.reason)
    except Exception as e:  # noqa: BLE001 - Nova answers 500 computeFault, and logs it
        log.error(f"Unexpected exception in API method: {type(e).__name__}: {e}", ctx=rid,
                  logger="nova.api.openstack.wsgi")
        response = fault(500, "Unexpected API Error. Please report this at "
                              "https://github.com/ (novatui) and attach the n-api log if possible.")
    response.headers["x-openstack-request-id"] = rid
    response.headers["x-compute-request-id"] = rid
    if not request.path.startswith(QUIET_PATHS):
        length = response.content_length or 0
        log.info(f'{_peer(request)} "{request.method} {request.path_qs} HTTP/'
                 f'{request.version.major}.{request.version.minor}" status: {response.status} '
                 f"len: {length} time: {time.monotonic() - start:.7f}", ctx=rid)
    return response


@web.middleware
async def auth_and_read_only(request: web.Request, handler) -> web.StreamResponse:
    """The token (when the service requires one for this transport), then read-only: a
    read-only token or a client that declared itself read-only changes nothing."""
    auth: Auth = request.app[AUTH]
    role = auth.role(request)
    if role is None:
        return web.json_response(fault_body(401, "The request you have made requires "
                                                 "authentication."), status=401)
    if transport_kind(request) == "tcp" and request.headers.get("X-Auth-Token") is None:
        why = auth.foreign(request)
        if why is not None:
            return fault(403, f"{why}: use a token, or connect from this machine")
    read_only = role == "reader" or request.headers.get("X-Novatui-Read-Only", "") == "1"
    request[READ_ONLY] = read_only
    if read_only and request.method in MUTATING:
        return fault(403, f"novatui is read-only for this client: {request.method} "
                          f"{request.path} refused")
    return await handler(request)


def make_app(engine: Engine, auth: Auth) -> web.Application:
    from . import compute, events, ext, identity, images
    app = web.Application(middlewares=[nova_request, auth_and_read_only],
                          client_max_size=MAX_BODY)  # image data streams past it
    app[ENGINE] = engine
    app[AUTH] = auth
    for module in (compute, images, identity, ext, events):
        module.setup(app)
    return app
