"""Publishing live events (``core.events``) never fails the write it follows: without a
broker it does nothing, and a broker that does not answer costs one short timeout, then
publishing pauses."""

from __future__ import annotations

import time

import pytest

from core import events
from core.events import EventKind, FeedEvent, channels_of, publish, status_event
from core.settings import settings
from tests.support.processes import free_port


@pytest.fixture
def fresh_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_publisher", events._Publisher())


def test_without_a_broker_nothing_is_published(
    fresh_publisher: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "redis_url", None)
    assert publish(status_event("e1", "running", sweep_id=None)) is False


def test_a_broker_that_does_not_answer_costs_one_timeout_then_a_pause(
    fresh_publisher: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(settings, "redis_url", f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    assert publish(status_event("e1", "running", sweep_id=None)) is False
    first = time.monotonic() - started
    assert first < events.PUBLISH_TIMEOUT_S * 4 + 1.0, first
    assert "live events not published" in caplog.text
    started = time.monotonic()
    for _ in range(100):  # paused: no connection is tried
        assert publish(status_event("e1", "running", sweep_id=None)) is False
    assert time.monotonic() - started < 0.05


def test_a_members_event_goes_to_its_experiment_and_its_sweep() -> None:
    event = status_event("e1", "running", sweep_id="s1")
    assert channels_of(event) == ["adamlab:events:experiment:e1", "adamlab:events:sweep:s1"]
    own = FeedEvent(EventKind.SWEEP, {"sweep_id": "s1", "status": "finished"}, sweep_id="s1")
    assert channels_of(own) == ["adamlab:events:sweep:s1"]
