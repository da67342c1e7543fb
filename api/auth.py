"""Who a request acts for: the tenant of its API key.

``ADAMLAB_AUTH=required`` (the default): every /v1 request sends ``Authorization: Bearer
<key>``; a missing, malformed, unknown or revoked key is 401 with a ``WWW-Authenticate:
Bearer`` header (RFC 6750) and a sentence saying what to do. ``ADAMLAB_AUTH=disabled``:
no key is asked for and every request is the default tenant's; so that this cannot open
the service to a network by mistake, the API then answers only requests that arrived on a
loopback address (403 otherwise), whatever address uvicorn was told to bind.

The check runs before anything else of the request: a route of ``KeyedRoute`` checks the key
as the request arrives, before FastAPI reads or parses its body, so a request without a
valid key is 401 whatever body it sends (never a 400 or 422 about a body it may not send).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager
from typing import Any

from fastapi import HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from sqlalchemy.orm import Session

from api.sessions import session_opener
from core.auth_policy import KEY_HINT, is_loopback
from core.settings import settings
from core.store.tenants import DEFAULT_TENANT, KeyRefusal, TenantIdentity, authenticate_api_key

bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="adl_<id>_<secret>",
    description=f"An API key from {KEY_HINT}.",
)

HOW_TO_GET_A_KEY = f"an administrator creates one with {KEY_HINT}"


def _unauthorized(detail: str, *, error: str | None = None) -> HTTPException:
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
    if not authorization:
        raise _unauthorized(
            f"This API needs a key, sent as 'Authorization: Bearer <key>'; {HOW_TO_GET_A_KEY}."
        )
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        # Name the scheme sent only when it looks like one: a bare key is never echoed.
        got = f"scheme {scheme!r}" if scheme.isalpha() and len(scheme) <= 20 else "no scheme"
        raise _unauthorized(
            f"The Authorization header must be 'Bearer <key>' (got {got}"
            f"{'' if key else ' and no key'}).",
            error="invalid_request",
        )
    with open_session() as session:
        found = authenticate_api_key(session=session, key=key)
    if found is KeyRefusal.REVOKED:
        raise _unauthorized(
            f"This API key has been revoked; ask for a new one ({HOW_TO_GET_A_KEY}).",
            error="invalid_token",
        )
    if found is KeyRefusal.UNKNOWN:
        raise _unauthorized(
            f"This API key is not valid: no such key exists here. Check that it was copied "
            f"whole; {HOW_TO_GET_A_KEY}.",
            error="invalid_token",
        )
    return found


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
