"""Who a request acts for: the tenant of its API key.

``ADAMLAB_AUTH=required`` (the default): every /v1 request sends ``Authorization: Bearer
<key>``; a missing, malformed, unknown or revoked key is 401 with a ``WWW-Authenticate:
Bearer`` header (RFC 6750) and a sentence saying what to do. ``ADAMLAB_AUTH=disabled``:
no key is asked for and every request is the default tenant's; so that this cannot open
the service to a network by mistake, the API then answers only requests that arrived on a
loopback address (403 otherwise), whatever address uvicorn was told to bind.

The dashboard signs in once (``POST /v1/session``, ``api.routes.session``) and then sends
the ``adamlab_session`` cookie instead of the key (``api.session_cookie``): a request with
no Authorization header and a valid cookie acts for the cookie's tenant; a request that
changes something (POST, PATCH, PUT, DELETE) on the cookie alone must also send
``X-CSRF-Token`` with the session's token (403 otherwise). An Authorization header always
wins over a cookie. Whatever the mode, a request that changes something and that a browser
marks ``Sec-Fetch-Site: cross-site`` (another site's page made it) is 403.

The check runs before anything else of the request: a route of ``KeyedRoute`` checks the key
as the request arrives, before FastAPI reads or parses its body, so a request without a
valid key is 401 whatever body it sends (never a 400 or 422 about a body it may not send).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager
from typing import Any

from fastapi import HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from sqlalchemy.orm import Session

from api.session_cookie import (
    CSRF_HEADER,
    SESSION_COOKIE,
    csrf_token,
    is_authentic,
    read_claims,
)
from api.sessions import session_opener
from core.auth_policy import KEY_HINT, is_loopback
from core.settings import settings
from core.store.tenants import (
    DEFAULT_TENANT,
    KeyRefusal,
    TenantIdentity,
    authenticate_api_key,
    find_active_key,
)

bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="adl_<id>_<secret>",
    description=f"An API key from {KEY_HINT}.",
)

HOW_TO_GET_A_KEY = f"an administrator creates one with {KEY_HINT}"
MUTATING_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def unauthorized(detail: str, *, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="adamlab"' + (f', error="{error}"' if error else "")
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": challenge}
    )


def arrived_on_loopback(request: Request) -> bool:
    """Whether the connection came in on a loopback address of this machine (the server
    side of it; a Unix socket counts as local)."""
    server = request.scope.get("server")
    if server is None or server[1] is None:
        return True
    return is_loopback(server[0])


def identify_tenant(
    request: Request,
    *,
    open_session: Callable[[], AbstractContextManager[Session]],
) -> TenantIdentity:
    """The tenant of the request's key; raises the 401 (or 403) described above. The store
    is opened (``open_session``) only to look a key up."""
    if request.method in MUTATING_METHODS and request.headers.get("sec-fetch-site") == "cross-site":
        # A browser says so of a request another site's page made (a form, a no-cors
        # fetch): never one of ours, and with keys disabled nothing else would stop it.
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "A request that changes something may not come from another site's page "
            "(Sec-Fetch-Site: cross-site).",
        )
    if settings.auth == "disabled":
        if not arrived_on_loopback(request):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "This server runs without API keys (ADAMLAB_AUTH=disabled), so it answers "
                "only on a loopback address; use 127.0.0.1 on its machine, or ask for keys "
                "to be required.",
            )
        return DEFAULT_TENANT
    authorization = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not authorization and cookie is not None:
        return cookie_tenant(request, cookie, open_session=open_session)
    if not authorization:
        raise unauthorized(
            f"This API needs a key, sent as 'Authorization: Bearer <key>'; {HOW_TO_GET_A_KEY}."
        )
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        # Name the scheme sent only when it looks like one: a bare key is never echoed.
        got = f"scheme {scheme!r}" if scheme.isalpha() and len(scheme) <= 20 else "no scheme"
        raise unauthorized(
            f"The Authorization header must be 'Bearer <key>' (got {got}"
            f"{'' if key else ' and no key'}).",
            error="invalid_request",
        )
    with open_session() as session:
        found = authenticate_api_key(session=session, key=key)
    if found is KeyRefusal.REVOKED:
        raise unauthorized(
            f"This API key has been revoked; ask for a new one ({HOW_TO_GET_A_KEY}).",
            error="invalid_token",
        )
    if found is KeyRefusal.UNKNOWN:
        raise unauthorized(
            f"This API key is not valid: no such key exists here. Check that it was copied "
            f"whole; {HOW_TO_GET_A_KEY}.",
            error="invalid_token",
        )
    return found


def cookie_tenant(
    request: Request,
    cookie: str,
    *,
    open_session: Callable[[], AbstractContextManager[Session]],
) -> TenantIdentity:
    """The tenant of a dashboard session cookie, its CSRF token kept in
    ``request.state.csrf_token``; 401 for a cookie that is forged, expired or made with a
    key since revoked, 403 for a mutating request without the session's CSRF token."""
    claims = read_claims(cookie)
    found = None
    if claims is not None:
        with open_session() as session:
            found = find_active_key(session=session, key_id=claims.key_id)
    if claims is None or found is None or not is_authentic(cookie, claims, key_hash=found.key_hash):
        raise unauthorized(
            "Your dashboard sign-in has expired or is no longer valid (its key may have been "
            "revoked): sign in again with an API key, or send 'Authorization: Bearer <key>'.",
            error="invalid_token",
        )
    token = csrf_token(claims, key_hash=found.key_hash)
    if request.method in MUTATING_METHODS and not hmac.compare_digest(
        request.headers.get(CSRF_HEADER, ""), token
    ):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"A request signed in by the dashboard's cookie that changes something must send "
            f"the header {CSRF_HEADER} with the token that sign-in answered (GET /v1/session "
            "gives it again); this one sent none or another.",
        )
    request.state.csrf_token = token
    return found.tenant


def checked_tenant(request: Request) -> TenantIdentity | None:
    """The tenant that ``KeyedRoute`` found for this request (None on another route)."""
    tenant = getattr(request.state, "tenant", None)
    return tenant if isinstance(tenant, TenantIdentity) else None


class KeyedRoute(APIRoute):
    """A route that needs an API key (every ``/v1`` route): the key is checked as the
    request arrives, before FastAPI reads the body, parses it or validates any parameter.
    The tenant found is kept in ``request.state`` for ``api.deps.CurrentTenant``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def key_first(request: Request) -> Response:
            # The lookup is a blocking store query: in the threadpool, as sync routes are.
            request.state.tenant = await run_in_threadpool(
                identify_tenant, request, open_session=session_opener(request)
            )
            return await handle(request)

        return key_first


class SignInRoute(KeyedRoute):
    """``POST /v1/session``, the one /v1 route whose key comes in its body: the route
    checks it itself (``api.routes.session``), so nothing is checked before the body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return APIRoute.get_route_handler(self)
