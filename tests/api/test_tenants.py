"""Tenants over HTTP, on the keyed API (keys required, a cap of 3 active experiments per
tenant, two uvicorn processes) beside the shared service: keys, isolation on every route
of the app, revocation through ``adamlab keys``, the per-tenant limit and its 429."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from api.main import app
from tests.factories import digits_body
from tests.support.client import finished, poll_experiment, submit, submitted_id
from tests.support.concurrency import at_once
from tests.support.processes import run_to_end
from tests.support.service import KeyedService

pytestmark = [pytest.mark.service, pytest.mark.slow]

QUICK: dict[str, Any] = digits_body(
    name="tenant-quick", optimizer={"name": "adam", "lr": 0.01}, epochs=1, device="cpu"
)
# The gpu queue has no worker in the tests: a parked experiment stays queued.
PARKED: dict[str, Any] = QUICK | {"name": "tenant-parked", "device": "cuda"}
# A playground run, parked too: its trajectory route answers its owner (409, no step yet).
TEST_PROBLEM: dict[str, Any] = {
    "name": "tenant-problem",
    "dataset": {"name": "function", "function": "rosenbrock"},
    "model": {"name": "point"},
    "device": "cuda",
}
SAMPLE_PATH_VALUES = {"image_format": "png"}
"""A value for each path parameter other than experiment_id and sweep_id a route may have."""
PARKED_SWEEP: dict[str, Any] = {
    "name": "tenant-sweep",
    "base": PARKED,
    "parameters": {"optimizer.lr": {"values": [0.01, 0.001]}},
}
IDS_QUERY = "ids"
SIGN_IN = ("POST", "/v1/session")
"""The dashboard's sign-in, the one /v1 route that takes its key in its body."""


def tenant_name(role: str) -> str:
    return f"{role}-{uuid.uuid4().hex[:8]}"


def app_routes() -> list[tuple[str, str, set[str]]]:
    """(method, path template, query parameter names) of every route of the app."""
    found = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        query = {param.alias for param in dependant.query_params} if dependant else set()
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append((method, route.path, query))
    return found


def fill_path(template: str, experiment_id: str, sweep_id: str | None = None) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "experiment_id":
            return experiment_id
        if name == "sweep_id":
            return sweep_id or experiment_id
        if name not in SAMPLE_PATH_VALUES:
            pytest.fail(f"{template}: add a sample value for path parameter {name!r}")
        return SAMPLE_PATH_VALUES[name]

    return re.sub(r"{(\w+)}", value, template)


def assert_unauthorized(response: httpx.Response, *, detail: str) -> None:
    assert response.status_code == 401, (response.request.url, response.text)
    assert response.headers["www-authenticate"].startswith("Bearer"), response.headers
    assert detail in response.json()["detail"], response.json()


# --- keys -------------------------------------------------------------------------------------


def test_every_v1_route_without_a_key_is_401(keyed_service: KeyedService) -> None:
    v1_routes = [(method, path) for method, path, _ in app_routes() if path.startswith("/v1")]
    assert len(v1_routes) >= 8, v1_routes
    with keyed_service.client(None) as anonymous:
        for method, template in v1_routes:
            if (method, template) == SIGN_IN:
                continue
            response = anonymous.request(method, fill_path(template, str(uuid.uuid4())))
            assert_unauthorized(response, detail="Authorization: Bearer <key>")
        # Sign-in's key is its body: a wrong one is the 401, without a body it is no JSON.
        assert anonymous.post("/v1/session").status_code == 415
        refused = anonymous.post("/v1/session", json={"api_key": "adl_000000000000_x"})
        assert_unauthorized(refused, detail="not valid")
        # Probes and /metrics stay open: a load balancer and Prometheus have no key.
        for path in ("/healthz", "/readyz", "/metrics"):
            assert anonymous.get(path).status_code == 200, path


def test_wrong_or_malformed_key_is_401_saying_why(keyed_service: KeyedService) -> None:
    real = keyed_service.new_key(tenant_name("holder"))
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    with keyed_service.client(forged) as wrong:
        response = wrong.get("/v1/experiments")
    assert_unauthorized(response, detail="not valid")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    with keyed_service.client(None) as basic:
        response = basic.get("/v1/experiments", headers={"Authorization": f"Basic {real}"})
    assert_unauthorized(response, detail="must be 'Bearer <key>' (got scheme 'Basic')")
    with keyed_service.client(None) as bare:
        response = bare.get("/v1/experiments", headers={"Authorization": real})
    assert_unauthorized(response, detail="(got no scheme and no key)")
    assert real not in response.text
    with keyed_service.client(real) as holder:
        assert holder.get("/v1/experiments").status_code == 200


def adamlab_keys(keyed_service: KeyedService, *args: str) -> subprocess.CompletedProcess[str]:
    """``adamlab keys ...`` against the keyed API's store (its DATABASE_URL)."""
    argv = [sys.executable, "-m", "adamlab.cli", "keys", *args]
    return run_to_end(argv, env=keyed_service.api.env, timeout_s=60)


def test_key_from_the_cli_works_until_revoked(keyed_service: KeyedService) -> None:
    tenant = tenant_name("revoked")
    created = adamlab_keys(keyed_service, "create", "--tenant", tenant)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert re.fullmatch(r"adl_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key), created.stdout
    key_id = key.split("_")[1]
    with keyed_service.client(key) as holder:
        experiment_id = submitted_id(holder, PARKED)
        assert holder.post(f"/v1/experiments/{experiment_id}/cancel").status_code == 200

    listed = adamlab_keys(keyed_service, "list", "--tenant", tenant)
    assert listed.returncode == 0, listed.stderr
    assert key_id in listed.stdout and tenant in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout  # the secret is nowhere to list

    revoked = adamlab_keys(keyed_service, "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    for _ in range(4):  # new connections, so that both API processes answer
        with keyed_service.client(key) as holder:
            assert_unauthorized(holder.get("/v1/experiments"), detail="revoked")
    listed = adamlab_keys(keyed_service, "list", "--tenant", tenant)
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith(key_id)]
    assert row.count("UTC") == 2, row  # created, and now revoked


# --- isolation --------------------------------------------------------------------------------


def test_other_tenants_experiment_is_404_on_every_route(keyed_service: KeyedService) -> None:
    """Every route of the app with an {experiment_id}, and every route taking ids=, answers
    tenant B about tenant A's experiment exactly as about an id that does not exist, and
    answers A about it with something else: a route that does not scope fails here."""
    owner = keyed_service.client(keyed_service.new_key(tenant_name("owner")))
    other = keyed_service.client(keyed_service.new_key(tenant_name("other")))
    with owner, other:
        done_id = submitted_id(owner, QUICK)
        parked_id = submitted_id(owner, PARKED)
        problem_id = submitted_id(owner, TEST_PROBLEM)
        sweep_id = owner.post("/v1/sweeps", json=PARKED_SWEEP).json()["id"]
        done = poll_experiment(owner, done_id, until=finished, timeout_s=90)
        assert done["status"] == "succeeded", done
        unknown_id = str(uuid.uuid4())

        checked = []
        for method, template, query in app_routes():
            if not template.startswith("/v1"):  # the dashboard's pages: no data of their own
                continue
            params = {IDS_QUERY: done_id} if IDS_QUERY in query else None
            if "_id}" not in template and params is None:
                continue
            path = fill_path(template, done_id, sweep_id)
            foreign = other.request(method, path, params=params)
            assert foreign.status_code == 404, (method, template, foreign.text)
            unknown = other.request(
                method,
                fill_path(template, unknown_id),
                params={IDS_QUERY: unknown_id} if params else None,
            )
            assert unknown.status_code == 404, (method, template, unknown.text)
            foreign_detail = foreign.json()["detail"].replace(done_id, "ID")
            assert foreign_detail.replace(sweep_id, "ID") == unknown.json()["detail"].replace(
                unknown_id, "ID"
            ), (method, template)
            # The owner's DELETE takes an experiment (a sweep) of its own, so that the routes
            # after it still find done_id and sweep_id (another tenant's DELETE above must
            # have left them).
            own_path = path
            if method == "DELETE" and "{sweep_id}" in template:
                own_sweep = owner.post("/v1/sweeps", json=PARKED_SWEEP).json()["id"]
                own_path = fill_path(template, done_id, own_sweep)
            elif method == "DELETE":
                own_path = fill_path(template, submitted_id(owner, PARKED))
            elif "/trajectory." in template:  # a test problem's route: the owner's is one
                own_path = fill_path(template, problem_id)
            if template.endswith("/events"):  # a stream: its head is the answer
                with owner.stream(method, own_path, params=params) as own:
                    assert own.status_code == 200, (method, template)
            else:
                own = owner.request(method, own_path, params=params)
                assert own.status_code not in (401, 403, 404), (method, template, own.text)
            checked.append(template)
        # The routes of issue 5 are among them (a renamed route still has to be listed).
        for expected in (
            "/cancel", "/metrics", "/metrics/history", "/plot.", "/checkpoint",
            "/v1/sweeps/{sweep_id}", "/extend", "/report", "/report.", "/events",
        ):  # fmt: skip
            assert any(expected in template for template in checked), (expected, checked)
        assert any(template.startswith("/v1/compare") for template in checked), checked

        # Mixing one's own id with another tenant's in a comparison is still a 404.
        mixed = other.get(
            "/v1/compare", params={IDS_QUERY: f"{submitted_id(other, PARKED)},{done_id}"}
        )
        assert mixed.status_code == 404, mixed.text

        # Another tenant's cancel changed nothing; the list shows each tenant its own.
        assert other.post(f"/v1/experiments/{parked_id}/cancel").status_code == 404
        assert owner.get(f"/v1/experiments/{parked_id}").json()["status"] == "queued"
        owner_list = owner.get("/v1/experiments", params={"limit": 500}).json()
        members = owner.get("/v1/experiments", params={"sweep": sweep_id}).json()["data"]
        member_ids = {row["id"] for row in members}
        assert len(member_ids) == 2  # the sweep's own; the deleted sweep's went with it
        assert {row["id"] for row in owner_list["data"]} == {
            done_id,
            parked_id,
            problem_id,
        } | member_ids
        assert owner_list["count"] == 5
        assert [row["id"] for row in owner.get("/v1/sweeps").json()["data"]] == [sweep_id]
        assert other.get("/v1/sweeps").json()["data"] == []
        other_list = other.get("/v1/experiments", params={"limit": 500}).json()
        assert {done_id, parked_id}.isdisjoint(row["id"] for row in other_list["data"])
        assert owner.post(f"/v1/experiments/{parked_id}/cancel").status_code == 200


def test_idempotency_key_is_each_tenants_own(keyed_service: KeyedService) -> None:
    first = keyed_service.client(keyed_service.new_key(tenant_name("first")))
    second = keyed_service.client(keyed_service.new_key(tenant_name("second")))
    key = f"shared-{uuid.uuid4()}"
    with first, second:
        mine = submit(first, PARKED, **{"Idempotency-Key": key})
        theirs = submit(second, PARKED, **{"Idempotency-Key": key})
        assert (mine.status_code, theirs.status_code) == (201, 201)
        assert "idempotent-replayed" not in theirs.headers
        assert mine.json()["id"] != theirs.json()["id"]
        replay = submit(second, PARKED, **{"Idempotency-Key": key})
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == theirs.json()["id"]
        for client, response in ((first, mine), (second, theirs)):
            client.post(f"/v1/experiments/{response.json()['id']}/cancel")


# --- the per-tenant limit ---------------------------------------------------------------------


def test_submissions_beyond_the_tenant_cap_are_429_even_when_racing(
    keyed_service: KeyedService,
) -> None:
    """Eight submissions at once, on fresh connections spread over both API processes:
    exactly the cap (3) is created; the others get 429 with Retry-After."""
    key = keyed_service.new_key(tenant_name("capped"))
    clients = [keyed_service.client(key) for _ in range(8)]
    try:
        responses = at_once(
            [lambda own=own: submit(own, PARKED) for own in clients],
            start_timeout_s=30,
            timeout_s=60,
        )
    finally:
        for own in clients:
            own.close()
    codes = sorted(response.status_code for response in responses)
    assert codes == [201] * 3 + [429] * 5, [response.text for response in responses]
    for refused in (response for response in responses if response.status_code == 429):
        assert int(refused.headers["retry-after"]) >= 1
        assert "ADAMLAB_MAX_ACTIVE_PER_TENANT" in refused.json()["detail"]
    created = [response.json()["id"] for response in responses if response.status_code == 201]

    with keyed_service.client(key) as client:
        # Other tenants are not affected.
        with keyed_service.client(keyed_service.new_key(tenant_name("free"))) as free:
            free_id = submitted_id(free, PARKED)
            free.post(f"/v1/experiments/{free_id}/cancel")
        # A finished (here: cancelled) experiment frees its place.
        assert client.post(f"/v1/experiments/{created[0]}/cancel").status_code == 200
        created[0] = submitted_id(client, PARKED)
        assert submit(client, PARKED).status_code == 429
        for experiment_id in created:
            assert client.post(f"/v1/experiments/{experiment_id}/cancel").status_code == 200
