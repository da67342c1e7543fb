"""The dashboard's sign-in: ``POST /v1/session`` checks an API key and sets the
``adamlab_session`` cookie (HttpOnly, SameSite=Strict, Path=/, Secure over https) that
stands for the key from then on (``api.session_cookie``, ``api.auth``); ``GET`` says who
the browser acts for (and its CSRF token again, for a reloaded page); ``DELETE`` signs
out. Under ``ADAMLAB_AUTH=disabled`` (loopback only) there is nothing to sign in to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response, status

from api.auth import HOW_TO_GET_A_KEY, KeyedRoute, SignInRoute, identify_tenant, unauthorized
from api.deps import CurrentTenant, JsonBody, SessionDep
from api.schemas import ErrorPublic, SessionCreate, SessionPublic
from api.session_cookie import SESSION_COOKIE, SESSION_LIFETIME_S, new_session, read_claims
from api.sessions import session_opener
from core.settings import settings
from core.store.tenants import KeyRefusal, authenticate_api_key, find_active_key

router = APIRouter(prefix="/v1/session", tags=["session"], route_class=KeyedRoute)
sign_in_router = APIRouter(prefix="/v1/session", tags=["session"], route_class=SignInRoute)

REFUSED_KEY: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic, "description": "The key is unknown or revoked."}
}


@sign_in_router.post(
    "", response_model=SessionPublic, dependencies=[JsonBody], responses=REFUSED_KEY
)
def sign_in(
    body: SessionCreate, request: Request, response: Response, session: SessionDep
) -> SessionPublic:
    """Check the key and set the session cookie; the answer's ``csrf_token`` goes with
    every request that changes something (``X-CSRF-Token``)."""
    if settings.auth == "disabled":
        tenant = identify_tenant(request, open_session=session_opener(request))  # loopback
        return SessionPublic(tenant=tenant.name, auth="disabled", signed_in_by="nothing")
    found = authenticate_api_key(session=session, key=body.api_key.strip())
    if found is KeyRefusal.REVOKED:
        raise unauthorized(
            f"This API key has been revoked; {HOW_TO_GET_A_KEY}.", error="invalid_token"
        )
    if found is KeyRefusal.UNKNOWN or found.key_id is None:
        raise unauthorized(
            f"This API key is not valid: no such key exists here. Check that it was copied "
            f"whole; {HOW_TO_GET_A_KEY}.",
            error="invalid_token",
        )
    active = find_active_key(session=session, key_id=found.key_id)
    assert active is not None  # just authenticated
    cookie, csrf = new_session(key_id=found.key_id, key_hash=active.key_hash)
    claims = read_claims(cookie)
    assert claims is not None
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=SESSION_LIFETIME_S,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return SessionPublic(
        tenant=found.name,
        auth="required",
        signed_in_by="cookie",
        csrf_token=csrf,
        expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
    )


@router.get("", response_model=SessionPublic)
def who_am_i(request: Request, tenant: CurrentTenant) -> SessionPublic:
    """Who this request acts for: 401 when it is signed in neither by the cookie nor by a
    key (the dashboard then shows its sign-in form)."""
    csrf = getattr(request.state, "csrf_token", None)
    claims = read_claims(request.cookies.get(SESSION_COOKIE, "")) if csrf else None
    return SessionPublic(
        tenant=tenant.name,
        auth=settings.auth,
        signed_in_by="cookie" if csrf else ("key" if tenant.key_id else "nothing"),
        csrf_token=csrf,
        expires_at=datetime.fromtimestamp(claims.expires_at, UTC) if claims else None,
    )


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
def sign_out() -> Response:
    """Remove the session cookie from the browser (with the CSRF token, as every request
    that changes something signed in by it)."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
