"""HttpClient: the Client of a novatui service running in another process, over HTTP (a Unix
socket or TCP). Reads use novatui's extension (/novatui), changes go through Nova's Compute
API (/v2.1) and the Glance subset (/image), events come as Server-Sent Events.

Synchronous (core/http_wire.py): the CLI calls it directly, the console from worker threads.
It imports neither the engine nor libvirt, so that the CLI starts fast when a service runs."""
from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import quote

from .actions import ACTIONS
from .client import Client, Listener
from .errors import (Conflict, InstanceInvalidState, InstanceIsLocked, InvalidInput, NotFound,
                     NovaError, ReadOnly)
from .events import Request
from .http_wire import Answer, TransportError, Wire
from .logs import LogLine

# The event stream (core/http_events.py) is imported by the first subscriber: a CLI call
# never reads it.
if TYPE_CHECKING:
    from .http_events import EventStream

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SERVICES_VERSION = {"OpenStack-API-Version": "compute 2.53"}  # forced_down: 2.53
WAIT_POLL_SECONDS = 30.0   # one long poll of GET /novatui/requests/{id}
UPLOAD_CHUNK = 1 << 20
QCOW2_MAGIC = b"QFI\xfb"


class ServiceUnavailable(NovaError):
    """The service could not be reached (not running, wrong socket, network)."""
    code = 503


def _conflict(message: str) -> NovaError:
    if message.endswith("is locked"):
        return InstanceIsLocked(message)
    if message.startswith("Cannot '"):
        return InstanceInvalidState(message)
    return Conflict(message)


ERRORS: dict[int, Callable[[str], NovaError]] = {
    400: InvalidInput, 403: ReadOnly, 404: NotFound, 409: _conflict, 503: ServiceUnavailable}
QUOTED_CHARS = 80   # what a message quotes of a body that is not the service's JSON


def _where(response: Answer) -> str:
    """'GET http://host/path: HTTP 502 Bad Gateway', for a message about a response."""
    return f"{response.method} {response.url}: HTTP {response.status_code} " \
           f"{response.reason_phrase}".rstrip()


def _quoted(response: Answer) -> str:
    """The start of a body, on one line."""
    try:
        text = " ".join(response.text.split())
    except (UnicodeDecodeError, LookupError):
        return "(not text)"
    if not text:
        return "(empty)"
    return text if len(text) <= QUOTED_CHARS else text[:QUOTED_CHARS - 3] + "..."


def error_of(response: Answer) -> NovaError:
    """Nova's fault body ({"itemNotFound": {"code": 404, "message": ...}}) as core.errors'
    exception, with the service's message; any other answer (a proxy's HTML page) is one
    line naming the URL and the status."""
    try:
        body = response.json()
        message = next(iter(body.values()))["message"]
        if not isinstance(message, str):
            raise TypeError(message)
    except (ValueError, TypeError, KeyError, StopIteration, AttributeError):
        message = f"{_where(response)}, not a novatui answer: {_quoted(response)}"
    return ERRORS.get(response.status_code, NovaError)(message)


def body_of(response: Answer, *keys: str):
    """The JSON body of a response, down `keys`; one line naming the URL and the status
    when it is not the service's JSON (a proxy's page, a redirect)."""
    try:
        body = response.json()
        for key in keys:
            body = body[key]
        return body
    except (ValueError, TypeError, KeyError, IndexError):
        missing = f" with {'.'.join(keys)}" if keys else ""
        raise NovaError(f"{_where(response)}: not the JSON{missing} a novatui service "
                        f"answers: {_quoted(response)}") from None


def _path(ref: str) -> str:
    return quote(ref, safe="")


class HttpClient(Client):
    attached = True

    def __init__(self, url: str, socket_path: str | None = None, token: str | None = None,
                 read_only: bool = False):
        self.url = url
        self.label = url
        self.read_only = read_only
        self.socket_path = socket_path
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["X-Auth-Token"] = token
        if read_only:
            self._headers["X-Novatui-Read-Only"] = "1"
        self._http = Wire(url, socket_path, self._headers)
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._stream: EventStream | None = None

    # -- the wire ------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kw) -> Answer:
        try:
            response = self._http.request(method, path, **kw)
        except TransportError as e:
            from .http_events import reason_of
            raise ServiceUnavailable(reason_of(e, self.url)) from None
        if response.status_code >= 400:
            raise error_of(response)
        return response

    def _get(self, path: str, *keys: str, **kw):
        return body_of(self._call("GET", path, **kw), *keys)

    # -- reads -----------------------------------------------------------------------------
    def info(self) -> dict:
        return self._get("/novatui/info")

    def instances(self, host=None):
        return self._get("/novatui/instances", "instances", params={"host": host} if host else None)

    def instance(self, ref):
        return self._get(f"/novatui/instances/{_path(ref)}", "instance")

    def fault(self, uuid):
        return self._get(f"/novatui/instances/{_path(uuid)}", "fault")

    def actions(self, uuid):
        return self._get(f"/novatui/instances/{_path(uuid)}/actions", "actions")

    def detail(self, uuid):
        return self._get(f"/novatui/instances/{_path(uuid)}/detail")

    def domain_xml(self, uuid):
        return self._get(f"/novatui/instances/{_path(uuid)}/xml", "xml")

    def hosts(self):
        return self._get("/novatui/hosts", "hosts")

    def images(self):
        return self._get("/novatui/images", "images")

    def image(self, ref):
        return self._get(f"/novatui/images/{_path(ref)}", "image")

    def image_users(self, image_id):
        return self._get(f"/novatui/images/{_path(image_id)}", "users")

    def log_history(self):
        return [LogLine(**fields) for fields in self._get("/novatui/logs", "lines")]

    def in_flight(self):
        return []  # the service carries the work, not this process

    def service_in_flight(self) -> list[dict]:
        """What the service itself carries between steps (its Engine.in_flight)."""
        return self._get("/novatui/in-flight", "in_flight")

    # -- requests --------------------------------------------------------------------------
    @staticmethod
    def _request_of(response: Answer, uuid: str, action: str) -> Request:
        rid = response.headers.get("x-openstack-request-id")
        if not rid:
            raise NovaError(f"{_where(response)}: the answer has no x-openstack-request-id")
        return Request(rid, uuid, action, done=response.headers.get("X-Novatui-Done") == "1")

    def create(self, name, flavor, image, availability_zone=None):
        server = {"name": name, "flavorRef": flavor, "imageRef": self.image(image)["id"]}
        if availability_zone is not None:
            server["availability_zone"] = availability_zone
        response = self._call("POST", "/v2.1/servers", json={"server": server})
        return self._request_of(response, body_of(response, "server", "id"), "create")

    def request(self, action, ref, /, **params):
        if action not in ACTIONS or action == "create":
            raise InvalidInput(f"no instance action named {action!r}")
        spec = ACTIONS[action]
        params = {k: v for k, v in params.items() if v is not None}
        if "image" in params:  # rebuild, rescue: Nova's imageRef is the image's id
            params["image_id"] = self.image(params.pop("image"))["id"]
        if UUID_RE.fullmatch(ref):  # an id, as the CLI and the console pass: asked at once
            try:
                return self._act(spec, ref, params)
            except NovaError as e:
                # The instance was found and refused (409), or the service failed: the
                # answer the lookup would have led to as well.
                if isinstance(e, Conflict) or e.code >= 500:
                    raise
                # Any other refusal may hide a missing instance (or a name that looks like an
                # id): as before, the lookup says so first.
        return self._act(spec, self.instance(ref)["uuid"], params)

    def _act(self, spec, uuid: str, params: dict) -> Request:
        if spec.http[0] == "DELETE":
            response = self._call("DELETE", f"/v2.1/servers/{uuid}")
        else:
            response = self._call("POST", f"/v2.1/servers/{uuid}/action",
                                  json=spec.request_body(params))
        return self._request_of(response, uuid, spec.name)

    def wait(self, request, timeout=600.0):
        rid = request.request_id if isinstance(request, Request) else request
        deadline = time.monotonic() + timeout
        while True:
            poll = max(0.0, min(WAIT_POLL_SECONDS, deadline - time.monotonic()))
            action = self._get(f"/novatui/requests/{_path(rid)}", "action",
                               params={"timeout": f"{poll:.3f}"}, timeout=poll + 30.0)
            if action["finish_time"] is not None:
                return action
            if time.monotonic() >= deadline:
                raise TimeoutError(f"request {rid} ({action['action']}) still running after "
                                   f"{timeout:.0f} s")

    def set_host(self, name, enabled, reason=None, forced_down=False):
        found = self._get("/v2.1/os-services", "services",
                          params={"binary": "nova-compute", "host": name},
                          headers=SERVICES_VERSION)
        if not found:
            raise InvalidInput(f"no host named {name!r} at {self.url}")
        body = {"status": "enabled" if enabled else "disabled", "forced_down": forced_down}
        if not enabled and reason:
            body["disabled_reason"] = reason
        self._call("PUT", f"/v2.1/os-services/{found[0]['id']}", json=body,
                   headers=SERVICES_VERSION)
        return next(h for h in self.hosts() if h["name"] == name)

    def create_image(self, name, file):
        path = Path(file)
        if not path.is_file():
            raise InvalidInput(f"image file {path} does not exist or is not a file")
        with open(path, "rb") as f:
            magic = f.read(4)
        image_id = body_of(self._call("POST", "/image/v2/images", json={
            "name": name, "disk_format": "qcow2" if magic == QCOW2_MAGIC else "raw",
            "container_format": "bare"}), "id")

        def chunks():
            with open(path, "rb") as f:
                while chunk := f.read(UPLOAD_CHUNK):
                    yield chunk
        self._call("PUT", f"/image/v2/images/{_path(str(image_id))}/file", content=chunks(),
                   headers={"Content-Type": "application/octet-stream",
                            "Content-Length": str(path.stat().st_size)},
                   timeout=None)
        return self.image(image_id)

    def delete_image(self, ref):
        image = self.image(ref)
        self._call("DELETE", f"/image/v2/images/{image['id']}")
        return image

    # -- events and the end ----------------------------------------------------------------
    def subscribe(self, listener):
        with self._lock:
            self._listeners.append(listener)
            if self._stream is None:
                from .http_events import EventStream
                self._stream = EventStream(self._http, self.url, self._emit)
                self._stream.start()

    def unsubscribe(self, listener):
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _emit(self, event: object) -> None:  # on the stream's thread
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)

    def close(self, settle=True, on_wait=None):
        """settle and on_wait concern the process that carries the work: not this one."""
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
        self._http.close()
