"""Cancelling on the live service (uvicorn, a Celery worker, Redis, PostgreSQL): a cancel
answered 202 ends cancelled, however close to its end the run was, and a repeated or
simultaneous cancel gets the same answer as the first."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.factories import digits_body
from tests.support.client import finished, poll_experiment, submitted_id
from tests.support.concurrency import at_once

pytestmark = [pytest.mark.service, pytest.mark.slow]

# A run of well under a second on this machine: a cancel lands near its end as often as
# not, before the worker's next heartbeat has read the flag.
SHORT: dict[str, Any] = digits_body(
    name="cancel-race", dataset={"name": "digits", "batch_size": 16}, epochs=3, device="cpu"
)
# The gpu queue, which no worker of the tests consumes: it stays queued.
PARKED: dict[str, Any] = SHORT | {"name": "cancel-parked", "device": "cuda"}
JOBS = 8


def ended_between(answers: list[httpx.Response], released_at: datetime) -> bool:
    """Whether two cancels answered differently because the run ended between them: the one
    answered 202 saw it running, the one answered 200 saw it cancelled, and it was finished
    after the two requests were released (both answers then say what was true when each was
    made: a repeat answers the same only while the job is in the same state)."""
    by_code = {answer.status_code: answer.json() for answer in answers}
    stopping, cancelled = by_code[202], by_code[200]
    finished_at = cancelled["timings"]["finished_at"]
    return (
        stopping["status"] == "running"
        and cancelled["status"] == "cancelled"
        and cancelled["cancel_requested"]
        and finished_at is not None
        and datetime.fromisoformat(finished_at) >= released_at
    )


def cancel_at_once(base_url: str, experiment_id: str, times: int = 2) -> list[httpx.Response]:
    """``times`` cancels of the experiment sent at the same moment, one client each."""
    clients = [httpx.Client(base_url=base_url, timeout=30.0) for _ in range(times)]
    answers = at_once(
        [lambda own=own: own.post(f"/v1/experiments/{experiment_id}/cancel") for own in clients]
    )
    for own in clients:
        own.close()
    assert len(answers) == times
    return answers


def test_running_jobs_cancelled_twice_at_once_all_end_cancelled(client: httpx.Client) -> None:
    ids = [submitted_id(client, SHORT | {"name": f"cancel-race-{n}"}) for n in range(JOBS)]
    answered: dict[str, list[int]] = {}
    for n, experiment_id in enumerate(ids):
        seen = poll_experiment(
            client,
            experiment_id,
            until=lambda e: e["status"] != "queued",
            timeout_s=90,
            interval_s=0.01,
        )
        if seen["status"] == "running":
            time.sleep(0.05 * n)  # from the start of the run to its end, over the 8
        released_at = datetime.now(UTC)
        answers = cancel_at_once(str(client.base_url), experiment_id)
        answered[experiment_id] = sorted(answer.status_code for answer in answers)
        codes = answered[experiment_id]
        if codes == [200, 202] and ended_between(answers, released_at):
            answered[experiment_id] = [202, 202]  # the run ended as cancelled between them
            continue
        assert codes[0] == codes[1], [answer.text for answer in answers]
        if codes[0] == 409:
            assert "succeeded" in answers[0].json()["detail"]

    ended = {
        experiment_id: poll_experiment(client, experiment_id, until=finished, timeout_s=60)
        for experiment_id in ids
    }
    for experiment_id, experiment in ended.items():
        codes = answered[experiment_id]
        if codes == [409, 409]:  # it had finished; the answer said so
            assert experiment["status"] == "succeeded", experiment
        else:
            assert codes in ([202, 202], [200, 200]), codes
            assert (experiment["status"], experiment["cancel_requested"]) == ("cancelled", True), (
                codes,
                experiment,
            )
        # A repeat now answers as the state is: cancelled 200, succeeded 409.
        again = client.post(f"/v1/experiments/{experiment_id}/cancel").status_code
        assert again == (200 if experiment["status"] == "cancelled" else 409)
    assert any(codes == [202, 202] for codes in answered.values()), answered


def test_simultaneous_cancels_of_a_queued_job_answer_the_same(client: httpx.Client) -> None:
    experiment_id = submitted_id(client, PARKED)
    answers = cancel_at_once(str(client.base_url), experiment_id)
    assert [answer.status_code for answer in answers] == [200, 200], [a.text for a in answers]
    assert [answer.json()["status"] for answer in answers] == ["cancelled", "cancelled"]
    repeat = client.post(f"/v1/experiments/{experiment_id}/cancel")
    assert repeat.status_code == 200 and repeat.json()["status"] == "cancelled"
    row = client.get(f"/v1/experiments/{experiment_id}").json()
    assert (row["status"], row["attempts"], row["timings"]["started_at"]) == ("cancelled", 0, None)
