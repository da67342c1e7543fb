"""The client's retries of transient errors (adamlab/client.py), on a scripted transport:
which errors are retried, for how long, and Retry-After. The service tests
(tests/adamlab/test_cli_waiting.py) restart a real API under a waiting command."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from adamlab.answers import ApiError, ServerUnreachable
from adamlab.client import AdamlabClient

EXPERIMENT = {"id": "e1", "status": "running", "progress": {}}
Step = Callable[[httpx.Request], httpx.Response]


def answer(status: int, body: object = EXPERIMENT, **headers: str) -> Step:
    return lambda request: httpx.Response(status, json=body, headers=headers)


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("Connection refused", request=request)


def scripted(
    *steps: Step, retry_for_s: float = 5.0, on_retry: Callable[[str], None] | None = None
) -> tuple[AdamlabClient, list[str]]:
    """A client whose requests meet ``steps`` in turn (the last one repeats), and the
    request lines it sent."""
    sent: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path}")
        return steps[min(len(sent), len(steps)) - 1](request)

    transport = httpx.MockTransport(handle)
    client = AdamlabClient(
        "http://adamlab.test", retry_for_s=retry_for_s, on_retry=on_retry, transport=transport
    )
    return client, sent


def test_a_lost_connection_after_an_answer_is_retried() -> None:
    told: list[str] = []
    client, sent = scripted(answer(200), refuse, refuse, answer(200), on_retry=told.append)
    assert client.get("e1") == EXPERIMENT
    assert client.get("e1") == EXPERIMENT
    assert sent == ["GET /v1/experiments/e1"] * 4
    assert len(told) == 1 and "did not answer" in told[0]


def test_a_server_that_never_answered_is_reported_at_once() -> None:
    client, sent = scripted(refuse)
    with pytest.raises(ServerUnreachable, match="no adamlab server answered"):
        client.get("e1")
    assert len(sent) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_answers_are_retried_for_reads(status: int) -> None:
    client, sent = scripted(answer(status, {"detail": "restarting"}), answer(200))
    assert client.get("e1") == EXPERIMENT
    assert len(sent) == 2


def test_retry_after_of_a_503_is_waited() -> None:
    client, sent = scripted(answer(503, {"detail": "busy"}, **{"Retry-After": "1"}), answer(200))
    started = time.monotonic()
    assert client.get("e1") == EXPERIMENT
    assert time.monotonic() - started >= 1.0
    assert len(sent) == 2


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422, 429])
def test_client_errors_are_never_retried(status: int) -> None:
    client, sent = scripted(answer(status, {"detail": "no"}), answer(200))
    with pytest.raises(ApiError) as raised:
        client.get("e1")
    assert raised.value.status_code == status and len(sent) == 1


def test_a_submission_is_not_sent_twice_after_a_503() -> None:
    client, sent = scripted(answer(503, {"detail": "broker down"}), answer(201))
    with pytest.raises(ApiError) as raised:
        client.submit({"epochs": 1})
    assert raised.value.status_code == 503 and sent == ["POST /v1/experiments"]


def test_the_retries_stop_within_retry_for_s() -> None:
    client, sent = scripted(answer(200), refuse, retry_for_s=1.5)
    client.get("e1")
    started = time.monotonic()
    with pytest.raises(ServerUnreachable, match=r"retried for 1\.5 s"):
        client.get("e1")
    assert 0.5 < time.monotonic() - started < 3.0
    assert len(sent) > 3  # backoff from 0.25 s: several tries within the 1.5 s


def test_retry_for_zero_never_retries() -> None:
    client, sent = scripted(answer(200), refuse, answer(200), retry_for_s=0)
    client.get("e1")
    with pytest.raises(ServerUnreachable):
        client.get("e1")
    assert len(sent) == 2
