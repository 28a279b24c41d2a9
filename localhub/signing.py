"""Short-lived signed grants: Xet access tokens and presigned transfer URLs, checked without server-side state.

The key lives in memory only, so a restart invalidates every grant and clients simply ask for new ones, as they do
when a Hub token expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass


class GrantError(Exception):
    """A grant is malformed, forged or expired."""


@dataclass(frozen=True)
class Grant:
    """What a signed grant allows: `scope` (for example `read` or `write`) on `subject` until `expires`."""

    scope: str
    subject: str
    expires: int


class Signer:
    def __init__(self, key: bytes | None = None):
        self._key = key or secrets.token_bytes(32)

    def _mac(self, message: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._key, message, hashlib.sha256).digest()).decode().rstrip("=")

    def issue(self, scope: str, subject: str, ttl_seconds: int) -> tuple[str, int]:
        """A token for `scope` on `subject`, and its expiry as a Unix time."""
        expires = int(time.time()) + ttl_seconds
        body = base64.urlsafe_b64encode(json.dumps([scope, subject, expires]).encode()).decode().rstrip("=")
        return f"xet_{body}.{self._mac(body.encode())}", expires

    def check(self, token: str) -> Grant:
        body, dot, mac = token.removeprefix("xet_").partition(".")
        if not token.startswith("xet_") or not dot or not hmac.compare_digest(mac, self._mac(body.encode())):
            raise GrantError("invalid token")
        scope, subject, expires = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if expires < time.time():
            raise GrantError("token expired")
        return Grant(scope, subject, expires)

    def sign_url(self, path: str, extra: str, ttl_seconds: int) -> str:
        """The query string that presigns `path` with `extra` (for example the one byte range it may serve)."""
        expires = int(time.time()) + ttl_seconds
        return f"expires={expires}&signature={self._mac(f'{path}|{extra}|{expires}'.encode())}"

    def check_url(self, path: str, extra: str, expires: str, signature: str) -> None:
        if not expires.isdigit() or not hmac.compare_digest(signature, self._mac(f"{path}|{extra}|{expires}".encode())):
            raise GrantError("invalid signature")
        if int(expires) < time.time():
            raise GrantError("signed URL expired")
