"""Who may use the service. The Unix socket (mode 0600: only its owner can connect) and a
loopback address need no token, like Nova's noauth for a local operator. A service that
listens on any other address requires X-Auth-Token: the admin token, or the reader token
that is refused every change. Both are generated into the state dir, mode 0600.

A loopback listener without a token is still reachable by a web page in the operator's
browser: requests over TCP must name a loopback host (no DNS rebinding) and come from no
foreign Origin (no cross-site requests); JSON bodies must say application/json (common.py)."""
from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

TOKEN_FILES = {"admin": "api-token", "reader": "api-token-read-only"}


def is_loopback(host: str) -> bool:
    host = (host or "").strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def ensure_tokens(state_dir: Path) -> dict[str, str]:
    """The admin and reader tokens, made once (born 0600) and kept across restarts."""
    tokens = {}
    for role, name in TOKEN_FILES.items():
        path = state_dir / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
        tokens[role] = path.read_text().strip()
    return tokens


def transport_kind(request: web.Request) -> str:
    """'unix', 'tcp', or 'unknown' (a connection already gone): decided by the socket."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return "unknown"
    return "unix" if sock.family == socket.AF_UNIX else "tcp"


def _loopback_url(value: str) -> bool:
    try:
        return is_loopback(urlsplit(value).hostname or "")
    except ValueError:
        return False


@dataclass
class Auth:
    tokens: dict[str, str]          # role -> token; empty: no token anywhere
    tcp_needs_token: bool = False   # the service listens on a non-loopback address

    def _token_role(self, given: str | None) -> str | None:
        if not given:
            return None
        given_bytes = given.encode("utf-8", "surrogateescape")
        for role, token in self.tokens.items():
            if hmac.compare_digest(given_bytes, token.encode()):
                return role
        return None

    def role(self, request: web.Request) -> str | None:
        """'admin' or 'reader', or None when the request must be refused (401)."""
        given = self._token_role(request.headers.get("X-Auth-Token"))
        kind = transport_kind(request)
        if kind == "unix":
            return given or "admin"
        if kind == "unknown" or (self.tcp_needs_token and given is None):
            return None
        return given or "admin"

    @staticmethod
    def foreign(request: web.Request) -> str | None:
        """Why a tokenless TCP request is refused as coming from a web page, or None."""
        host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") \
            else request.host[1:].split("]")[0]
        if not is_loopback(host):
            return f"Host {request.host[:80]!r} is not a loopback name"
        origin = request.headers.get("Origin")
        if origin is not None and not _loopback_url(origin):
            return f"Origin {origin[:80]!r} may not use this API"
        return None


AUTH: web.AppKey[Auth] = web.AppKey("auth", Auth)
