"""An identity version document under /identity: all that keystoneauth's discovery asks
for when a client uses auth_type none with identity_endpoint_override. There are no users,
projects or tokens behind it (see auth.py for who may use the service)."""
from __future__ import annotations

from aiohttp import web

PREFIX = "/identity"


def _version(request: web.Request) -> dict:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{request.scheme}://{request.host}{PREFIX}/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}]}


async def versions(request: web.Request) -> web.Response:
    return web.json_response({"versions": {"values": [_version(request)]}}, status=300)


async def version_v3(request: web.Request) -> web.Response:
    return web.json_response({"version": _version(request)})


def setup(app: web.Application) -> None:
    for path in (PREFIX, PREFIX + "/"):
        app.router.add_get(path, versions)
    for path in (PREFIX + "/v3", PREFIX + "/v3/"):
        app.router.add_get(path, version_v3)
