"""The positions an event stream carries in its ids (``api.event_positions``): encoding and
decoding round trips, what counts as news, and the ids a browser could send back that no
stream sent."""

from __future__ import annotations

import random

import pytest

from api.event_positions import (
    METRIC_CODES,
    ExperimentPosition,
    InvalidPositionError,
    SweepPosition,
    from_base36,
    members_hash,
    to_base36,
)
from core.events import EventKind, FeedEvent, points_event, progress_event, status_event
from core.metrics import METRICS, MetricPoint, Progress


def point(name: str, step: int) -> dict[str, object]:
    return {"name": name, "step": step, "value": 0.5, "epoch": 1}


def test_base36_round_trips() -> None:
    for number in [0, 1, 35, 36, 1295, 10**12, 2**62]:
        assert from_base36(to_base36(number)) == number
    assert to_base36(100) == "2s"
    with pytest.raises(InvalidPositionError):
        from_base36("")
    with pytest.raises(InvalidPositionError):
        from_base36("A1")


def test_every_registered_metric_has_a_one_character_code() -> None:
    assert set(METRIC_CODES) == set(METRICS)
    assert all(len(code) == 1 for code in METRIC_CODES.values())


def test_the_docstrings_example_reads_as_it_says() -> None:
    position = ExperimentPosition.decode("r.2s.2s=01,2r=2345")
    assert position.status == "running" and not position.ended
    assert position.progress_step == 100
    assert position.points == {
        "batch_loss": 100,
        "lr": 100,
        "train_loss": 99,
        "train_acc": 99,
        "val_loss": 99,
        "val_acc": 99,
    }
    assert position.encode() == "r.2s.2s=01,2r=2345"


def test_experiment_positions_round_trip() -> None:
    rng = random.Random(14)
    names = [*METRICS, "a metric, not registered"]
    for _ in range(300):
        position = ExperimentPosition(
            status=rng.choice([None, "queued", "running", "succeeded", "failed", "stopped"]),
            progress_step=rng.choice([None, rng.randrange(10**9)]),
            points={name: rng.randrange(1, 10**7) for name in rng.sample(names, rng.randrange(9))},
        )
        position.ended = (
            position.status in ("succeeded", "failed", "stopped") and rng.random() < 0.5
        )
        assert ExperimentPosition.decode(position.encode()) == position


def test_a_fresh_position_is_short() -> None:
    assert ExperimentPosition().encode() == "-.."
    assert ExperimentPosition.decode("-..") == ExperimentPosition()


def test_points_above_the_position_are_news_once_each_in_the_order_written() -> None:
    position = ExperimentPosition(points={"batch_loss": 10})
    fresh = position.take_points([point("batch_loss", 12), point("batch_loss", 9), point("lr", 3)])
    assert [(p["name"], p["step"]) for p in fresh] == [("batch_loss", 12), ("lr", 3)]
    assert position.points == {"batch_loss": 12, "lr": 3}
    # A resumed run rewrites points up to its old high-water mark: nothing is news again.
    again = position.take_points([point("batch_loss", s) for s in range(5, 14)])
    assert [p["step"] for p in again] == [13]
    # All news: the same list comes back (its JSON text is sent as it is, to every stream).
    batch = [point("lr", 4), point("batch_loss", 14), point("lr", 5)]
    assert position.take_points(batch) is batch
    assert position.points == {"batch_loss": 14, "lr": 5}


def test_status_and_progress_are_news_only_when_they_change() -> None:
    position = ExperimentPosition()
    assert position.take_status("queued") and not position.take_status("queued")
    assert position.take_status("running")
    assert not position.take_progress(None)
    assert position.take_progress(5) and not position.take_progress(5)
    assert position.take_progress(3)  # a resumed run starts below: news, not a repeat


@pytest.mark.parametrize(
    "text",
    ["", "r", "r.1", "z..", "r..1", "r..1=", "r..1=!", "r..=0", "r.-1.", "r..1=*zz*", "r..1=*61"],
)
def test_an_id_no_stream_sent_is_refused(text: str) -> None:
    with pytest.raises(InvalidPositionError):
        ExperimentPosition.decode(text)


def test_sweep_positions_round_trip_with_done_members_as_ranges() -> None:
    ids = [f"id-{n}" for n in range(80)]
    position = SweepPosition(status="running", known=80, known_hash=members_hash(ids))
    for ordinal in [*range(0, 40), 41, *range(50, 60)]:
        position.finish_member(ordinal)
    position.members[40] = ExperimentPosition(
        status="running", progress_step=7, points={"batch_loss": 7}
    )
    position.members[45] = ExperimentPosition(status="queued")  # default: left out
    text = position.encode()
    assert "/0-13,15,1e-1n/" in text, text  # 0-39, 41, 50-59 in base 36
    assert "15:" not in text
    decoded = SweepPosition.decode(text)
    assert decoded.done == position.done
    assert decoded.members == {40: position.members[40]}
    assert (decoded.status, decoded.known, decoded.known_hash) == (
        "running",
        80,
        position.known_hash,
    )


def test_a_sweep_position_stays_short_however_many_members_ended() -> None:
    position = SweepPosition(status="running", known=10_000, known_hash="0" * 8)
    for ordinal in range(9_990):
        position.finish_member(ordinal)
    assert len(position.encode()) < 40


@pytest.mark.parametrize("text", ["r", "r/1/0/", "r/1.abcdefgh/5/", "q/1.x//", "r/1.x//0:zz"])
def test_a_sweep_id_no_stream_sent_is_refused(text: str) -> None:
    with pytest.raises(InvalidPositionError):
        SweepPosition.decode(text)


def test_feed_events_round_trip_as_json() -> None:
    events = [
        status_event("e1", "running", sweep_id="s1"),
        progress_event("e1", Progress(epoch=1, step=4, fraction=float("nan")), sweep_id=None),
        points_event("e1", [MetricPoint("lr", 3, float("inf"), 1)], sweep_id=None),
    ]
    for event in events:
        assert FeedEvent.decode(event.encode()) == event
    assert events[0].data == {"experiment_id": "e1", "status": "running", "sweep_id": "s1"}
    assert events[1].data["fraction"] is None and events[1].data["step"] == 4
    assert events[2].data["points"] == [{"name": "lr", "step": 3, "value": None, "epoch": 1}]
    assert FeedEvent.decode(b"not json") is None
    assert FeedEvent.decode(b'{"kind": "other", "data": {}}') is None
    assert EventKind("points") is EventKind.POINTS
