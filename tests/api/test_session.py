"""The dashboard's sign-in (api/routes/session.py, api/session_cookie.py), in this process
on a SQLite store: a key exchanged for an HttpOnly, SameSite=Strict cookie; the cookie
acts for its tenant; a mutating request on the cookie needs the CSRF token; a forged,
expired or revoked-key cookie is 401; under ADAMLAB_AUTH=disabled no sign-in."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.session_cookie import SESSION_COOKIE, SESSION_LIFETIME_S, new_session
from core.settings import settings
from tests.factories import digits_body
from tests.support.app import InProcessApi, inprocess_api
from tests.support.store import open_store


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessApi]:
    from core.store.migrate import upgrade_to_head

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade_to_head(url)
    monkeypatch.setattr(settings, "state_dir", tmp_path / "state")
    with open_store(url) as store, inprocess_api(store, monkeypatch) as running:
        yield running


def browser(base_url: str = "http://127.0.0.1", *, cookie: str | None = None) -> TestClient:
    """A client with no Authorization header, keeping cookies as a browser does (starting
    with ``cookie`` as its session cookie)."""
    from api.main import app

    client = TestClient(app, base_url=base_url, raise_server_exceptions=False)
    if cookie is not None:
        client.cookies.set(SESSION_COOKIE, cookie)
    return client


def new_tenant_key(api: InProcessApi) -> str:
    return api.new_key(f"dash-{uuid.uuid4().hex[:8]}")


def signed_in(api: InProcessApi, key: str | None = None) -> tuple[TestClient, str]:
    client = browser()
    answer = client.post("/v1/session", json={"api_key": key or new_tenant_key(api)})
    assert answer.status_code == 200, answer.text
    return client, answer.json()["csrf_token"]


def test_sign_in_sets_an_httponly_strict_cookie_and_answers_the_tenant(api: InProcessApi) -> None:
    key = api.new_key("dash-alice")
    answer = browser().post("/v1/session", json={"api_key": key})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["tenant"] == "dash-alice" and body["signed_in_by"] == "cookie"
    assert len(body["csrf_token"]) >= 32
    cookie = answer.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    assert "Path=/" in cookie and f"Max-Age={SESSION_LIFETIME_S}" in cookie
    assert "secure" not in attributes  # plain http here
    assert key not in cookie  # the cookie stands for the key, never holds it


def test_sign_in_over_https_marks_the_cookie_secure(api: InProcessApi) -> None:
    answer = browser("https://127.0.0.1").post("/v1/session", json={"api_key": new_tenant_key(api)})
    assert answer.status_code == 200, answer.text
    assert "secure" in answer.headers["set-cookie"].lower()


def test_a_wrong_or_revoked_key_is_401_and_sets_no_cookie(api: InProcessApi) -> None:
    from core.store.tenants import revoke_api_key

    wrong = browser().post("/v1/session", json={"api_key": "adl_000000000000_nope"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert "no such key" in wrong.json()["detail"]
    key = new_tenant_key(api)
    with api.store.session() as session:
        revoke_api_key(session=session, key_id=key.split("_")[1])
    revoked = browser().post("/v1/session", json={"api_key": key})
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    assert browser().post("/v1/session", json={}).status_code == 422
    assert browser().post("/v1/session", content=b"k", headers={"content-type": "text/plain"}
    ).status_code == 415  # fmt: skip


def test_the_cookie_acts_for_its_tenant_and_sees_only_its_runs(api: InProcessApi) -> None:
    alice_key, bob_key = new_tenant_key(api), new_tenant_key(api)
    alice, alice_csrf = signed_in(api, alice_key)
    created = alice.post(
        "/v1/experiments", json=digits_body(), headers={"X-CSRF-Token": alice_csrf}
    )
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    who = alice.get("/v1/session").json()
    assert who["csrf_token"] == alice_csrf and who["signed_in_by"] == "cookie"
    assert [run["id"] for run in alice.get("/v1/experiments").json()["data"]] == [run_id]
    bob, _ = signed_in(api, bob_key)
    assert bob.get("/v1/experiments").json()["data"] == []
    assert bob.get(f"/v1/experiments/{run_id}").status_code == 404


def test_a_mutating_request_on_the_cookie_needs_the_csrf_token(api: InProcessApi) -> None:
    client, csrf = signed_in(api)
    for headers in ({}, {"X-CSRF-Token": "not-the-token"}):
        refused = client.post("/v1/experiments", json=digits_body(), headers=headers)
        assert refused.status_code == 403, refused.text
        assert "X-CSRF-Token" in refused.json()["detail"]
        assert client.delete("/v1/session", headers=headers).status_code == 403
    assert client.get("/v1/experiments").status_code == 200  # reads need no token
    assert client.delete("/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/v1/session").status_code == 401  # signed out: the cookie is gone


def test_a_key_header_wins_over_the_cookie_and_needs_no_csrf(api: InProcessApi) -> None:
    client, _ = signed_in(api)
    other = new_tenant_key(api)
    headers = {"Authorization": f"Bearer {other}"}
    who = client.get("/v1/session", headers=headers).json()
    assert who["signed_in_by"] == "key" and who["csrf_token"] is None
    created = client.post("/v1/experiments", json=digits_body(), headers=headers)
    assert created.status_code == 201, created.text


def test_a_forged_expired_or_revoked_cookie_is_401(api: InProcessApi) -> None:
    from core.store.tenants import find_active_key, revoke_api_key

    key = new_tenant_key(api)
    key_id = key.split("_")[1]
    with api.store.session() as session:
        active = find_active_key(session=session, key_id=key_id)
    assert active is not None
    expired, _ = new_session(
        key_id=key_id, key_hash=active.key_hash, now=time.time() - SESSION_LIFETIME_S - 1
    )
    forged, _ = new_session(key_id=key_id, key_hash="0" * 64)
    good, _ = new_session(key_id=key_id, key_hash=active.key_hash)
    tampered = good[:-2] + ("BA" if good[-2:] == "AA" else "AA")  # the signature changed
    for cookie in (expired, forged, "v1.garbage", tampered):
        answer = browser(cookie=cookie).get("/v1/experiments")
        assert answer.status_code == 401, (cookie, answer.text)
        assert "sign in again" in answer.json()["detail"]
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert browser(cookie=good).get("/v1/session").status_code == 200
    with api.store.session() as session:
        revoke_api_key(session=session, key_id=key_id)
    assert browser(cookie=good).get("/v1/session").status_code == 401


def test_signed_out_the_session_is_401(api: InProcessApi) -> None:
    answer = browser().get("/v1/session")
    assert answer.status_code == 401
    assert "Authorization: Bearer <key>" in answer.json()["detail"]


def test_keys_disabled_on_loopback_needs_no_sign_in(
    api: InProcessApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "auth", "disabled")
    who = browser().get("/v1/session")
    assert who.status_code == 200, who.text
    assert who.json() | {"expires_at": None} == {
        "tenant": "default",
        "auth": "disabled",
        "signed_in_by": "nothing",
        "csrf_token": None,
        "expires_at": None,
    }
    assert browser().post("/v1/session", json={"api_key": "x"}).json()["auth"] == "disabled"
    created = browser().post("/v1/experiments", json=digits_body())
    assert created.status_code == 201, created.text
    refused = browser("http://10.0.0.7").get("/v1/session")
    assert refused.status_code == 403


def test_a_cross_site_change_is_refused_even_without_keys(
    api: InProcessApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another site's page can make a browser send a body-less POST (a cancel) without a
    preflight; the browser marks it cross-site, and the API refuses it in every mode."""
    cross_site = {"Sec-Fetch-Site": "cross-site"}
    client, csrf = signed_in(api)
    refused = client.post(
        "/v1/experiments", json=digits_body(), headers=cross_site | {"X-CSRF-Token": csrf}
    )
    assert refused.status_code == 403 and "another site" in refused.json()["detail"]
    monkeypatch.setattr(settings, "auth", "disabled")
    assert browser().post("/v1/experiments", json=digits_body(), headers=cross_site
    ).status_code == 403  # fmt: skip
    same_origin = {"Sec-Fetch-Site": "same-origin"}
    assert browser().post("/v1/experiments", json=digits_body(), headers=same_origin
    ).status_code == 201  # fmt: skip
    assert browser().get("/v1/experiments", headers=cross_site).status_code == 200  # a read
