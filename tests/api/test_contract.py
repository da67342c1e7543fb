"""The live service answers as its OpenAPI document says: schemathesis generates valid
and invalid requests for every operation from the running API's own /openapi.json and
sends them to it (uvicorn, Redis, a Celery worker), on PostgreSQL and on SQLite, with a
valid key and without one. No answer may be a 5xx, and each must have a documented
status, media type, headers and body (tests/support/fuzz.py). A few cases per operation
here; benchmarks/fuzz_api.py runs thousands."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.factories import digits_body
from tests.support.client import finished, poll_experiment, submitted_id
from tests.support.fuzz import fuzz
from tests.support.service import KeyedService

pytestmark = [pytest.mark.service, pytest.mark.slow]

EXAMPLES_PER_OPERATION = 12
"""Cases per operation and run: 20 operations, about 240 requests, well under a minute."""
SIGN_IN = "POST /v1/session"
FINISHED_RUN = digits_body(name="contract-finished", epochs=1, device="cpu")
# The gpu queue has no worker in the tests: a parked experiment stays queued.
PARKED_RUN = digits_body(name="contract-parked", device="cuda")


@pytest.fixture(params=["postgres", "sqlite"])
def keyed_api(request: pytest.FixtureRequest) -> KeyedService:
    fixture = "keyed_service" if request.param == "postgres" else "sqlite_keyed_service"
    return request.getfixturevalue(fixture)


@pytest.fixture
def tenant_client(keyed_api: KeyedService) -> Iterator[httpx.Client]:
    with keyed_api.client(keyed_api.new_key(f"contract-{uuid.uuid4().hex[:8]}")) as client:
        yield client


@pytest.fixture
def experiment_ids(tenant_client: httpx.Client) -> list[str]:
    """A finished experiment (curves, a figure, final weights) and a queued one."""
    done = submitted_id(tenant_client, FINISHED_RUN)
    parked = submitted_id(tenant_client, PARKED_RUN)
    poll_experiment(tenant_client, done, until=finished, timeout_s=120)
    return [done, parked]


@pytest.mark.parametrize("with_key", [True, False], ids=["valid-key", "no-key"])
def test_fuzzed_requests_get_documented_answers(
    keyed_api: KeyedService,
    tenant_client: httpx.Client,
    experiment_ids: list[str],
    with_key: bool,
) -> None:
    headers = {"Authorization": tenant_client.headers["authorization"]} if with_key else {}

    def cancel(experiment_id: str) -> None:
        tenant_client.post(f"/v1/experiments/{experiment_id}/cancel")

    report = fuzz(
        keyed_api.base_url,
        headers=headers,
        examples_per_operation=EXAMPLES_PER_OPERATION,
        experiment_ids=experiment_ids,
        cancel=cancel,
    )
    assert len(report.by_operation) >= 14, report.summary()
    assert report.cases >= 5 * len(report.by_operation), report.summary()
    assert report.by_status_class["5xx"] == 0, report.summary()
    assert not report.findings, report.summary()
    v1 = {status for (label, status) in report.statuses if label.split(" ")[1].startswith("/v1")}
    # Sign-in takes its key in its body, so without a key it answers about the body too.
    keyed = {
        status
        for (label, status) in report.statuses
        if label.split(" ")[1].startswith("/v1") and label != SIGN_IN
    }
    if with_key:
        assert 200 in v1 and 404 in v1 and 422 in v1, report.statuses
    else:
        assert keyed == {401}, report.statuses


def test_no_key_and_a_broken_body_is_401(keyed_api: KeyedService) -> None:
    with keyed_api.client(None) as anonymous:
        response = anonymous.post(
            "/v1/experiments", content=b'{"dataset": ', headers={"content-type": "application/json"}
        )
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_body_that_is_not_utf8_is_400_after_the_key(tenant_client: httpx.Client) -> None:
    response = tenant_client.post(
        "/v1/experiments", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"detail"}


def test_options_and_405_name_the_methods_of_the_path(keyed_api: KeyedService) -> None:
    with keyed_api.client(None) as anonymous:
        options = anonymous.options("/v1/experiments")
        wrong = anonymous.delete("/v1/experiments")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, POST, OPTIONS"
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, POST, OPTIONS"
