"""Maps bearer tokens to users and decides who may read and write a repository."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import unquote

# The cookie the login form sets: it holds a token, so that a browser reads what that token may read.
SESSION_COOKIE = "localhub_token"


@dataclass(frozen=True)
class Token:
    """What a bearer token grants: the user it acts as, and whether it may write."""

    user: str
    write: bool = False


class InvalidToken(Exception):
    """An `Authorization` header was sent but names no known token."""


class Authenticator:
    def __init__(self, tokens: Mapping[str, Token] | None = None):
        self._tokens = dict(tokens or {})
        if any(not secret.strip() or secret != secret.strip() for secret in self._tokens):
            raise ValueError("a token is blank or has surrounding whitespace: no request could ever present it")

    def caller(self, authorization: str | None) -> Token | None:
        """The token behind an `Authorization` header; None for an anonymous request."""
        if not authorization:
            return None
        scheme, _, secret = authorization.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise InvalidToken
        # Compare against every token so the time taken does not reveal a matching prefix.
        found = None
        for known, token in self._tokens.items():
            if hmac.compare_digest(known.encode(), secret.encode()):
                found = token
        if found is None:
            raise InvalidToken
        return found

    def session_caller(self, cookie_header: str | None) -> Token | None:
        """The token a browser's login cookie holds; None without one, or when the server no longer knows it (the
        browser then reads as anonymous until it logs in again)."""
        try:
            morsel = SimpleCookie(cookie_header or "").get(SESSION_COOKIE)
        except CookieError:
            return None
        if morsel is None or not morsel.value:
            return None
        try:
            return self.caller(f"Bearer {unquote(morsel.value)}")
        except InvalidToken:
            return None
