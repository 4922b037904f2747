"""A Glance v2 subset under /image: version discovery, list, show, create a queued record,
upload its data (streamed to a file in the state dir's images dir) and delete. Image data
is raw or qcow2, checked against the record's disk_format as Glance's format inspector does."""
from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from ..config import validate_name
from ..errors import Conflict, NotFound, ReadOnly
from ..views import timestamp as isotime
from .actions_map import check_string, shown
from .common import BadRequest, api_call, engine as engine_of, json_body, off_loop
from .nova_views import limit_param

PREFIX = "/image"
DISK_FORMATS = ("raw", "qcow2")
STATUSES = {"deleting": "pending_delete"}           # store status -> Glance's
RECORD_KEYS = ("name", "disk_format", "container_format", "visibility", "id", "tags",
               "min_disk", "min_ram", "protected", "os_hidden")
CHUNK = 1 << 20


def image_view(image: dict) -> dict:
    """Glance's image: its own fields, then the properties (Nova's snapshots say which
    instance they came from). The checksum is a sha256 (os_hash_*); no md5 is kept."""
    iid = image["id"]
    view = {
        "id": iid, "name": image["name"], "status": STATUSES.get(image["status"], image["status"]),
        "visibility": "public", "protected": False, "os_hidden": False, "checksum": None,
        "os_hash_algo": "sha256" if image["checksum"] else None,
        "os_hash_value": image["checksum"] or None,
        "size": image["size"] if image["status"] == "active" else None, "virtual_size": None,
        "disk_format": image["disk_format"], "container_format": "bare", "min_disk": 0,
        "min_ram": 0, "owner": "admin", "tags": [], "created_at": isotime(image["created_at"]),
        "updated_at": isotime(image["created_at"]), "self": f"/v2/images/{iid}",
        "file": f"/v2/images/{iid}/file", "schema": "/v2/schemas/image"}
    extra = dict(image["properties"])
    if image["type"] == "snapshot":
        extra.update({"image_type": "snapshot", "instance_uuid": image["instance_uuid"]})
    return {**{k: str(v) for k, v in extra.items() if k not in view}, **view}


# -- versions --------------------------------------------------------------------------
async def versions(request: web.Request) -> web.Response:
    href = f"{request.scheme}://{request.host}{PREFIX}/v2/"
    return web.json_response({"versions": [
        {"id": "v2.16", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]},
        status=300 if request.path.rstrip("/") == PREFIX else 200)


# -- reads -----------------------------------------------------------------------------
def _get(engine, image_id: str) -> dict:
    image = engine.store.get_image(image_id)
    if image is None or image["status"] == "deleting":
        raise NotFound(f"No image found with ID {shown(image_id)}")
    return image


async def list_images(request: web.Request) -> web.Response:
    q = request.query
    limit = limit_param(q.get("limit"))
    images = [image_view(i) for i in await off_loop(engine_of(request).images.list)]
    images.sort(key=lambda i: i["created_at"], reverse=True)   # Glance: created_at desc
    for key in ("name", "status", "disk_format", "container_format", "id"):
        if key in q:
            wanted = q[key][3:].split(",") if q[key].startswith("in:") else [q[key]]
            images = [i for i in images if i[key] in wanted]
    if q.get("visibility") not in (None, "all", "public"):
        images = []
    marker = q.get("marker")
    if marker is not None:   # Glance: a marker that names no image is a 400
        at = next((n for n, i in enumerate(images) if i["id"] == marker), None)
        if at is None:
            raise BadRequest(f"Invalid marker {shown(marker)}: no image found with that ID")
        images = images[at + 1:]
    body = {"images": images, "first": "/v2/images", "schema": "/v2/schemas/images"}
    if limit is not None:
        if len(images) > limit:
            images = images[:limit]
            if images:
                params = {**q, "marker": images[-1]["id"]}
                body["next"] = "/v2/images?" + urlencode(params)
        body["images"] = images
    return web.json_response(body)


async def show_image(request: web.Request) -> web.Response:
    return web.json_response(image_view(await off_loop(_get, engine_of(request),
                                                       request.match_info["image_id"])))


# -- changes ---------------------------------------------------------------------------
def _writable(engine) -> None:
    if engine.read_only:
        raise ReadOnly("novatui is in read-only mode: 'image create' refused")


async def create_image(request: web.Request) -> web.Response:
    engine, body = engine_of(request), await json_body(request)
    _writable(engine)
    if isinstance(body.get("name"), str):   # Glance's 255, before novatui's own rule
        check_string("name", body["name"])
    validate_name("image", body.get("name"))
    disk_format = body.get("disk_format") or "raw"
    if disk_format not in DISK_FORMATS:
        raise BadRequest(f"Invalid value '{shown(disk_format)}' for disk_format: novatui "
                         f"keeps {' and '.join(DISK_FORMATS)} images")
    if body.get("container_format", "bare") != "bare":
        raise BadRequest("Invalid value for container_format: only 'bare' is supported")
    if "id" in body:
        raise BadRequest("novatui chooses image ids: 'id' cannot be given")
    properties = {k: v for k, v in body.items() if k not in RECORD_KEYS}
    for key, value in properties.items():   # Glance's schema: extra properties are strings
        check_string("property name", key, min_length=1)
        check_string(key, value)
    image = await api_call(request, engine.images.new_queued, body["name"], disk_format,
                           properties)
    response = web.json_response(image_view(image), status=201)
    response.headers["Location"] = \
        f"{request.scheme}://{request.host}{PREFIX}/v2/images/{image['id']}"
    return response


async def upload_image(request: web.Request) -> web.Response:
    """The data, streamed to a file beside the images (hashed on the way), then the record."""
    engine, iid = engine_of(request), request.match_info["image_id"]
    _writable(engine)
    image = await off_loop(_get, engine, iid)
    if image["type"] != "image":   # a snapshot or shelve image: compute fills it
        raise Conflict(f"Image {iid} is a {image['type']} that compute writes: it accepts no "
                       "uploaded data")
    if image["status"] != "queued":
        raise Conflict(f"Image status transition from {image['status']} to saving is not "
                       "allowed")
    part = Path(engine.images.dir) / f"{iid}.upload-{secrets.token_hex(4)}"
    digest = hashlib.sha256()
    try:
        with open(part, "wb") as f:
            while chunk := await request.content.read(CHUNK):
                digest.update(chunk)
                await off_loop(f.write, chunk)
        await api_call(request, engine.images.upload, iid, part, digest.hexdigest())
    finally:
        part.unlink(missing_ok=True)
    return web.Response(status=204)


async def delete_image(request: web.Request) -> web.Response:
    engine, iid = engine_of(request), request.match_info["image_id"]
    await off_loop(_get, engine, iid)
    await api_call(request, engine.api.delete_image, iid)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    r = app.router
    for path in (PREFIX, PREFIX + "/", PREFIX + "/versions", PREFIX + "/v2", PREFIX + "/v2/"):
        r.add_get(path, versions)
    r.add_get(PREFIX + "/v2/images", list_images)
    r.add_post(PREFIX + "/v2/images", create_image)
    r.add_get(PREFIX + "/v2/images/{image_id}", show_image)
    r.add_put(PREFIX + "/v2/images/{image_id}/file", upload_image)
    r.add_delete(PREFIX + "/v2/images/{image_id}", delete_image)
