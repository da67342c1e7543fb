"""The dashboard's session cookie: what ``POST /v1/session`` sets after checking an API
key, so that the key itself never stays in the browser (nor ever appears in a URL).

The cookie is signed, not stored: ``v1.<key id>.<expiry>.<nonce>.<mac>`` with

    mac  = HMAC-SHA256(k, "v1.<key id>.<expiry>.<nonce>"),
    k    = HMAC-SHA256(sha256(key), "adamlab session"),
    csrf = HMAC-SHA256(k, "csrf.<nonce>"),

where ``sha256(key)`` is the key's hash as the store keeps it (``core.store.tenants``).
Only the store and the key's holder know that hash, so nobody else can make a cookie;
every request looks the key up by its id, so revoking the key ends its sessions at once,
and a cookie is refused after its expiry (``SESSION_LIFETIME_S``). Signing out removes
the cookie from the browser; a copy taken before then stays valid until it expires.

``csrf`` is the token a mutating request signed in by the cookie must send as
``X-CSRF-Token``: a page of another site can make the browser send the cookie (SameSite
=Strict already stops that in current browsers) but can never read the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "adamlab_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_LIFETIME_S = 12 * 3600
"""How long a sign-in lasts: a working day; then the dashboard asks for the key again."""

_VERSION = "v1"
_COOKIE_PATTERN = re.compile(
    r"v1\.([0-9a-f]{12})\.([0-9]{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})"
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signing_key(key_hash: str) -> bytes:
    return hmac.new(key_hash.encode(), b"adamlab session", hashlib.sha256).digest()


def _mac(key_hash: str, message: str) -> str:
    return _b64(hmac.new(_signing_key(key_hash), message.encode(), hashlib.sha256).digest())


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What a cookie says before it is checked: the key it was made with, its expiry
    (Unix seconds) and its nonce."""

    key_id: str
    expires_at: int
    nonce: str

    @property
    def signed_part(self) -> str:
        return f"{_VERSION}.{self.key_id}.{self.expires_at}.{self.nonce}"


def new_session(*, key_id: str, key_hash: str, now: float | None = None) -> tuple[str, str]:
    """A new session of the key: (cookie value, CSRF token)."""
    expires_at = int(now if now is not None else time.time()) + SESSION_LIFETIME_S
    nonce = _b64(secrets.token_bytes(16))
    claims = SessionClaims(key_id=key_id, expires_at=expires_at, nonce=nonce)
    cookie = f"{claims.signed_part}.{_mac(key_hash, claims.signed_part)}"
    return cookie, csrf_token(claims, key_hash=key_hash)


def read_claims(cookie: str) -> SessionClaims | None:
    """The claims of a well-formed cookie (not yet verified), else None."""
    match = _COOKIE_PATTERN.fullmatch(cookie)
    if match is None:
        return None
    key_id, expires_at, nonce, _ = match.groups()
    return SessionClaims(key_id=key_id, expires_at=int(expires_at), nonce=nonce)


def is_authentic(
    cookie: str, claims: SessionClaims, *, key_hash: str, now: float | None = None
) -> bool:
    """Whether ``cookie`` was signed with the key of ``key_hash`` and has not expired."""
    mac = cookie.rpartition(".")[2]
    fresh = claims.expires_at > (now if now is not None else time.time())
    return hmac.compare_digest(mac, _mac(key_hash, claims.signed_part)) and fresh


def csrf_token(claims: SessionClaims, *, key_hash: str) -> str:
    return _mac(key_hash, f"csrf.{claims.nonce}")
