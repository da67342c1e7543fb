"""Live events on the live service (uvicorn, a Celery worker, Redis pub/sub, PostgreSQL):
an experiment's stream carries its statuses, progress and every stored point exactly once,
then ``end``; a stream cut mid-run and resumed with ``Last-Event-ID`` loses and repeats
nothing; a stream that has ended answers 204; another tenant's experiment or sweep is 404;
a sweep's stream carries its members to the end; the heartbeat comes at its interval."""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import digits_body, per_example_body
from tests.support.client import submitted_id
from tests.support.processes import free_port
from tests.support.service import KeyedService, Service
from tests.support.sse import Comment, Event, open_stream, parse, read_until_end

pytestmark = [pytest.mark.service, pytest.mark.slow]

TERMINAL = ("succeeded", "failed", "cancelled", "stopped")
MID_RUN_POINTS = 300
"""Points a client reads before it is cut off mid-run (a run writes ~3,600)."""


@pytest.fixture
def http(service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, timeout=30.0) as client:
        yield client


def stored_points(http: httpx.Client, experiment_id: str) -> Counter[tuple[str, int, Any]]:
    """Every stored point of the experiment, as (name, step, value)."""
    answer = http.get(f"/v1/experiments/{experiment_id}/metrics")
    answer.raise_for_status()
    return Counter(
        (name, step, value)
        for name, curve in answer.json()["curves"].items()
        for step, value in zip(curve["steps"], curve["values"], strict=True)
    )


def streamed_points(events: list[Event]) -> Counter[tuple[str, int, Any]]:
    return Counter(
        (point["name"], point["step"], point["value"])
        for event in events
        if event.kind == "points"
        for point in event.data["points"]
    )


def test_an_experiments_stream_carries_statuses_progress_every_point_once_and_end(
    http: httpx.Client,
) -> None:
    experiment_id = submitted_id(http, per_example_body(name="events-live", epochs=2))
    with open_stream(http, f"/v1/experiments/{experiment_id}/events") as (response, items):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_until_end(items)
    kinds = [event.kind for event in events]
    statuses = [event.data["status"] for event in events if event.kind == "status"]
    assert statuses[-2:] == ["running", "succeeded"], statuses
    assert events[-1].data == {"experiment_id": experiment_id, "status": "succeeded"}
    assert all(event.data["experiment_id"] == experiment_id for event in events)
    assert all(event.id for event in events) and len({event.id for event in events}) == len(events)
    # Live: points and progress arrived while it ran, between "running" and "succeeded".
    running_at = next(i for i, e in enumerate(events) if e.data.get("status") == "running")
    succeeded_at = len(kinds) - 2
    between = Counter(kinds[running_at:succeeded_at])
    assert between["points"] >= 5 and between["progress"] >= 2, between
    progress = [event.data for event in events if event.kind == "progress"]
    assert set(progress[0]) >= {"experiment_id", "epoch", "epochs", "step", "total_steps",
                                "fraction", "eta_s", "elapsed_s", "device"}  # fmt: skip
    steps = [data["step"] for data in progress]
    assert steps == sorted(steps) and len(set(steps)) == len(steps), steps
    # Every stored point exactly once.
    streamed = streamed_points(events)
    assert max(streamed.values()) == 1
    assert streamed == stored_points(http, experiment_id)
    assert len(streamed) > 3000

    # Its end was sent: a browser reconnecting with the last id is told to stop (204).
    again = http.get(
        f"/v1/experiments/{experiment_id}/events", headers={"Last-Event-ID": events[-1].id or ""}
    )
    assert again.status_code == 204, again.text
    # A new client gets the whole run from the store, with the same points.
    with open_stream(http, f"/v1/experiments/{experiment_id}/events") as (_, items):
        replay = read_until_end(items)
    assert [event.kind for event in replay][-2:] == ["status", "end"]
    assert streamed_points(replay) == streamed


def test_a_stream_cut_mid_run_resumes_with_last_event_id_losing_and_repeating_nothing(
    http: httpx.Client,
) -> None:
    experiment_id = submitted_id(http, per_example_body(name="events-resume", epochs=2))
    first: list[Event] = []
    with open_stream(http, f"/v1/experiments/{experiment_id}/events") as (_, items):
        for item in items:
            if isinstance(item, Event):
                first.append(item)
                if sum(streamed_points(first).values()) >= MID_RUN_POINTS:
                    break  # the client goes away mid-run
    assert first[-1].kind == "points"
    assert http.get(f"/v1/experiments/{experiment_id}").json()["status"] == "running"
    time.sleep(1.0)  # points written while no client is connected
    path = f"/v1/experiments/{experiment_id}/events"
    second: list[Event] = []
    # The second cut: a client that cannot set headers passes the id as a query parameter.
    with (
        httpx.Client(base_url=http.base_url, timeout=30.0) as other,
        other.stream("GET", path, params={"last_event_id": first[-1].id}) as response,
    ):
        for item in parse(response.iter_lines()):
            if isinstance(item, Event):
                second.append(item)
                if sum(streamed_points(second).values()) >= MID_RUN_POINTS:
                    break
    with open_stream(http, path, last_event_id=second[-1].id) as (_, items):
        third = read_until_end(items)
    everything = first + second + third
    streamed = streamed_points(everything)
    assert max(streamed.values()) == 1, [k for k, n in streamed.items() if n > 1][:5]
    assert streamed == stored_points(http, experiment_id)
    # The statuses are not repeated either: running once, succeeded once, then end.
    statuses = [event.data["status"] for event in everything if event.kind == "status"]
    assert statuses.count("running") == 1 and statuses[-1] == "succeeded", statuses
    assert [event.kind for event in everything].count("end") == 1


def test_a_stream_from_the_buckets_events_from_sends_only_the_points_after_them(
    http: httpx.Client,
) -> None:
    """What the dashboard's run page does: draw the buckets, then follow from there."""
    experiment_id = submitted_id(http, per_example_body(name="events-from-buckets", epochs=2))
    deadline = time.monotonic() + 120
    while True:
        read = http.get(f"/v1/experiments/{experiment_id}/metrics/buckets").json()
        if sum(curve["total_points"] for curve in read["curves"].values()) >= MID_RUN_POINTS:
            break
        assert time.monotonic() < deadline, read["status"]
        time.sleep(0.1)
    assert read["status"] == "running"
    drawn_to = {name: curve["step_last"][-1] for name, curve in read["curves"].items()}
    drawn = sum(curve["total_points"] for curve in read["curves"].values())
    path = f"/v1/experiments/{experiment_id}/events"
    with open_stream(http, path, last_event_id=read["events_from"]) as (_, items):
        events = read_until_end(items)
    streamed = streamed_points(events)
    stored = stored_points(http, experiment_id)
    assert max(streamed.values()) == 1
    assert streamed == Counter(
        {key: n for key, n in stored.items() if key[1] > drawn_to.get(key[0], 0)}
    )
    assert drawn + sum(streamed.values()) == sum(stored.values())
    # A read of some metrics, or of a range, gives no position (it would skip the rest).
    some = http.get(f"/v1/experiments/{experiment_id}/metrics/buckets", params={"name": "lr"})
    assert some.json()["events_from"] is None
    ranged = http.get(f"/v1/experiments/{experiment_id}/metrics/buckets", params={"step_min": 2})
    assert ranged.json()["events_from"] is None


def test_another_tenants_streams_are_404(keyed_service: KeyedService) -> None:
    owner = keyed_service.client(keyed_service.new_key(f"events-owner-{uuid.uuid4().hex[:8]}"))
    other = keyed_service.client(keyed_service.new_key(f"events-other-{uuid.uuid4().hex[:8]}"))
    parked = digits_body(name="events-parked", device="cuda")  # no gpu worker: stays queued
    with owner, other:
        experiment_id = submitted_id(owner, parked)
        sweep = owner.post(
            "/v1/sweeps",
            json={"name": "events-parked", "base": parked,
                  "parameters": {"optimizer.lr": {"values": [0.01, 0.001]}}},
        )  # fmt: skip
        assert sweep.status_code == 201, sweep.text
        for path in (
            f"/v1/experiments/{experiment_id}/events",
            f"/v1/sweeps/{sweep.json()['id']}/events",
        ):
            foreign = other.get(path)
            assert foreign.status_code == 404, foreign.text
            assert "No " in foreign.json()["detail"]
            with open_stream(owner, path) as (response, items):
                assert response.status_code == 200
                first = next(item for item in items if isinstance(item, Event))
            assert first.kind in ("status", "sweep"), first
        anonymous = keyed_service.client(None)
        with anonymous:
            assert anonymous.get(f"/v1/experiments/{experiment_id}/events").status_code == 401
        assert owner.post(f"/v1/experiments/{experiment_id}/cancel").status_code == 200
        assert owner.post(f"/v1/sweeps/{sweep.json()['id']}/cancel").status_code in (200, 202)


def test_a_sweeps_stream_carries_its_members_to_the_end(http: httpx.Client) -> None:
    body = {
        "name": "events-sweep",
        "base": digits_body(epochs=2, device="cpu"),
        "parameters": {"optimizer.lr": {"values": [0.01, 0.001]}},
        "seeds": 1,
    }
    created = http.post("/v1/sweeps", json=body)
    assert created.status_code == 201, created.text
    sweep_id = created.json()["id"]
    with open_stream(http, f"/v1/sweeps/{sweep_id}/events") as (_, items):
        events = read_until_end(items)
    assert events[0].kind == "sweep" and events[0].data["members"]["total"] == 2
    assert events[-1].data == {"sweep_id": sweep_id, "status": "finished"}
    counts = [event.data["members"] for event in events if event.kind == "sweep"]
    assert counts[-1]["succeeded"] == 2 and counts[-1]["total"] == 2, counts[-1]
    members = {row["id"] for row in http.get("/v1/experiments", params={"sweep": sweep_id})
               .json()["data"]}  # fmt: skip
    assert len(members) == 2
    for member in members:
        own = [event for event in events if event.data.get("experiment_id") == member]
        statuses = [event.data["status"] for event in own if event.kind == "status"]
        assert statuses[-1] == "succeeded" and statuses.count("succeeded") == 1, statuses
        assert all(
            event.data.get("sweep_id") == sweep_id for event in own if event.kind == "status"
        )
        streamed = streamed_points(own)
        assert max(streamed.values()) == 1
        assert streamed == stored_points(http, member)
    assert (
        http.get(
            f"/v1/sweeps/{sweep_id}/events", headers={"Last-Event-ID": events[-1].id or ""}
        ).status_code
        == 204
    )


@pytest.fixture
def pinging_api(service: Service, tmp_path: Path) -> Iterator[Service]:
    """A second API on the shared service's servers whose streams ping every 0.3 s."""
    (tmp_path / "logs").mkdir()
    api = Service(
        base_url=f"http://127.0.0.1:{free_port()}",
        env=service.env | {"ADAMLAB_EVENTS_PING_S": "0.3"},
        state_dir=service.state_dir,
        log_dir=tmp_path / "logs",
    )
    try:
        api.start_api()
        yield api
    finally:
        api.stop()


def test_an_idle_stream_sends_a_heartbeat_comment_at_its_interval(pinging_api: Service) -> None:
    with httpx.Client(base_url=pinging_api.base_url, timeout=30.0) as http:
        parked = submitted_id(http, digits_body(name="events-ping", device="cuda"))
        comments: list[Comment] = []
        with open_stream(http, f"/v1/experiments/{parked}/events", read_timeout_s=5.0) as (
            _,
            items,
        ):
            for item in items:
                if isinstance(item, Comment):
                    comments.append(item)
                    if len(comments) == 3:
                        break
        gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(comments)]
        assert all(0.15 < gap < 1.5 for gap in gaps), gaps
        assert all(comment.text.startswith("ping") for comment in comments), comments
        assert http.post(f"/v1/experiments/{parked}/cancel").status_code == 200


def test_a_stream_of_a_deleted_experiment_closes_and_then_is_404(http: httpx.Client) -> None:
    parked = submitted_id(http, digits_body(name="events-deleted", device="cuda"))
    path = f"/v1/experiments/{parked}/events"
    seen: list[Event] = []
    with open_stream(http, path, read_timeout_s=20.0) as (_, items):
        for item in items:
            if isinstance(item, Event):
                seen.append(item)
                assert http.delete(f"/v1/experiments/{parked}").status_code == 204
        # The loop ends: the server closed the stream (a read timeout would raise).
    assert [event.kind for event in seen] == ["status"], seen
    again = http.get(path, headers={"Last-Event-ID": seen[-1].id or ""})
    assert again.status_code == 404, again.text


def test_a_sweeps_stream_cut_mid_run_resumes_losing_and_repeating_nothing(
    http: httpx.Client,
) -> None:
    body = {
        "name": "events-sweep-resume",
        "base": per_example_body(epochs=1, device="cpu"),
        "parameters": {"optimizer.lr": {"values": [0.01, 0.001]}},
        "seeds": 1,
    }
    created = http.post("/v1/sweeps", json=body)
    assert created.status_code == 201, created.text
    path = f"/v1/sweeps/{created.json()['id']}/events"
    first: list[Event] = []
    with open_stream(http, path) as (_, items):
        for item in items:
            if isinstance(item, Event):
                first.append(item)
                if sum(streamed_points(first).values()) >= MID_RUN_POINTS:
                    break
    time.sleep(1.0)
    with open_stream(http, path, last_event_id=first[-1].id) as (_, items):
        rest = read_until_end(items)
    everything = first + rest
    assert everything[-1].kind == "end"
    members = {e.data["experiment_id"] for e in everything if e.kind == "status"}
    assert len(members) == 2
    for member in members:
        own = [e for e in everything if e.data.get("experiment_id") == member]
        streamed = streamed_points(own)
        assert max(streamed.values()) == 1
        assert streamed == stored_points(http, member)
        statuses = [e.data["status"] for e in own if e.kind == "status"]
        assert statuses.count("running") == 1 and statuses[-1] == "succeeded", statuses
