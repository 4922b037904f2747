"""Who may use the service. The Unix socket (mode 0600: only its owner can connect) and a
loopback address need no token, like Nova's noauth for a local operator. A service that
listens on any other address requires X-Auth-Token: the admin token, or the reader token
that is refused every change. Both are generated into the state dir, mode 0600."""
from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

TOKEN_FILES = {"admin": "api-token", "reader": "api-token-read-only"}


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def ensure_tokens(state_dir: Path) -> dict[str, str]:
    """The admin and reader tokens, made once (0600) and kept across restarts."""
    tokens = {}
    for role, name in TOKEN_FILES.items():
        path = state_dir / name
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32) + "\n")
            path.chmod(0o600)
        tokens[role] = path.read_text().strip()
    return tokens


def read_token(state_dir: Path, role: str = "admin") -> str | None:
    path = state_dir / TOKEN_FILES[role]
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@dataclass
class Auth:
    tokens: dict[str, str]          # role -> token; empty: no token anywhere
    tcp_needs_token: bool = False   # the service listens on a non-loopback address

    def role(self, request: web.Request) -> str | None:
        """'admin' or 'reader', or None when the request must be refused (401)."""
        given = request.headers.get("X-Auth-Token")
        for role, token in self.tokens.items():
            if given and hmac.compare_digest(given, token):
                return role
        over_tcp = isinstance(request.transport.get_extra_info("peername") if request.transport
                              else None, tuple)
        if over_tcp and self.tcp_needs_token:
            return None
        return "admin"


AUTH: web.AppKey[Auth] = web.AppKey("auth", Auth)
