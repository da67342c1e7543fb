"""Live events on Redis pub/sub: what the workers and the store publish after each write,
and what the API's one subscription receives (``api/event_hub.py``) and streams to its
clients as server-sent events (``api/routes/events.py``).

Channels, on the broker the stack already runs (``REDIS_URL``):

- ``adamlab:events:experiment:{id}``: the experiment's own events;
- ``adamlab:events:sweep:{id}``: its members' events (each also on its experiment's
  channel) and the sweep's own status.

A message is one ``FeedEvent`` as JSON: ``kind`` (``status``, ``progress``, ``points``,
``sweep``), the ids, ``data`` (what a client gets as the event's data) and
``published_at`` (the publisher's ``time.time()``, for the delay benchmark). Pub/sub keeps
nothing: a client that was away gets what it missed from the store, which every event
follows (published after its write committed).

Publishing never fails the write it follows: without ``REDIS_URL`` it does nothing, and a
Redis that does not answer within ``PUBLISH_TIMEOUT_S`` is logged and left alone for
``PAUSE_AFTER_FAILURE_S`` (so an outage costs a write one timeout, not one per write).
"""

from __future__ import annotations

import enum
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
import redis.asyncio
import redis.exceptions

from core.metrics import MetricPoint, Progress, finite_or_none
from core.settings import settings

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "adamlab:events:"
CHANNEL_PATTERN = CHANNEL_PREFIX + "*"
"""What the API subscribes to: every experiment's and every sweep's channel."""
PUBLISH_TIMEOUT_S = 0.5
PAUSE_AFTER_FAILURE_S = 5.0


def experiment_channel(experiment_id: str) -> str:
    return f"{CHANNEL_PREFIX}experiment:{experiment_id}"


def sweep_channel(sweep_id: str) -> str:
    return f"{CHANNEL_PREFIX}sweep:{sweep_id}"


class EventKind(enum.StrEnum):
    STATUS = "status"
    """An experiment's status changed: data {experiment_id, status, sweep_id?}."""
    PROGRESS = "progress"
    """Where a running experiment stands: data {experiment_id, **core.metrics.Progress}."""
    POINTS = "points"
    """Metric points written: data {experiment_id, points: [{name, step, value, epoch}]}."""
    SWEEP = "sweep"
    """A sweep's own status changed: data {sweep_id, status}."""
    DELETED = "deleted"
    """The experiment (data {experiment_id}) or the sweep (data {sweep_id}) was deleted:
    its streams close (a reconnection is 404, which ends a browser's EventSource)."""


@dataclass(frozen=True, slots=True)
class FeedEvent:
    kind: EventKind
    data: dict[str, Any]
    experiment_id: str | None = None
    sweep_id: str | None = None
    published_at: float = 0.0
    data_json: str = field(default="", compare=False, repr=False)
    """``data`` as JSON text, made once where a decoded event is sent to many clients."""

    def encode(self) -> bytes:
        return json.dumps(
            {
                "kind": self.kind.value,
                "experiment_id": self.experiment_id,
                "sweep_id": self.sweep_id,
                "published_at": self.published_at,
                "data": self.data,
            },
            separators=(",", ":"),
            allow_nan=False,
        ).encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> FeedEvent | None:
        """The event of a message, or None for one that is not an event of ours."""
        try:
            message = json.loads(raw)
            data = dict(message["data"])
            return cls(
                kind=EventKind(message["kind"]),
                data=data,
                experiment_id=message.get("experiment_id"),
                sweep_id=message.get("sweep_id"),
                published_at=float(message.get("published_at") or 0.0),
                data_json=to_json(data),
            )
        except (ValueError, KeyError, TypeError):
            return None


def to_json(data: dict[str, Any]) -> str:
    """The compact JSON text of an event's data (no NaN: JSON has none)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


# --- the events' data -----------------------------------------------------------------------


def point_data(point: MetricPoint) -> dict[str, Any]:
    return {
        "name": point.name,
        "step": point.step,
        "value": finite_or_none(point.value),
        "epoch": point.epoch,
    }


def status_event(experiment_id: str, status: str, *, sweep_id: str | None) -> FeedEvent:
    data: dict[str, Any] = {"experiment_id": experiment_id, "status": status}
    if sweep_id is not None:
        data["sweep_id"] = sweep_id
    return FeedEvent(EventKind.STATUS, data, experiment_id=experiment_id, sweep_id=sweep_id)


def progress_event(experiment_id: str, progress: Progress, *, sweep_id: str | None) -> FeedEvent:
    fields = asdict(progress)
    for name in ("fraction", "eta_s", "elapsed_s"):
        fields[name] = finite_or_none(fields[name])
    return FeedEvent(
        EventKind.PROGRESS,
        {"experiment_id": experiment_id, **fields},
        experiment_id=experiment_id,
        sweep_id=sweep_id,
    )


def points_event(
    experiment_id: str, points: Sequence[MetricPoint], *, sweep_id: str | None
) -> FeedEvent:
    return FeedEvent(
        EventKind.POINTS,
        {"experiment_id": experiment_id, "points": [point_data(point) for point in points]},
        experiment_id=experiment_id,
        sweep_id=sweep_id,
    )


def sweep_status_event(sweep_id: str, status: str) -> FeedEvent:
    return FeedEvent(EventKind.SWEEP, {"sweep_id": sweep_id, "status": status}, sweep_id=sweep_id)


def deleted_event(*, experiment_id: str | None = None, sweep_id: str | None = None) -> FeedEvent:
    data = {"experiment_id": experiment_id} if experiment_id else {"sweep_id": sweep_id}
    return FeedEvent(EventKind.DELETED, data, experiment_id=experiment_id, sweep_id=sweep_id)


def channels_of(event: FeedEvent) -> list[str]:
    """Where an event goes: its experiment's channel and its sweep's."""
    channels = []
    if event.experiment_id is not None:
        channels.append(experiment_channel(event.experiment_id))
    if event.sweep_id is not None:
        channels.append(sweep_channel(event.sweep_id))
    return channels


# --- publishing (sync: the workers and the store's writes) ----------------------------------


class _Publisher:
    """One Redis client per process and URL; a failure pauses publishing for a while."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._url: str | None = None
        self._paused_until = 0.0

    def _client_for(self, url: str) -> redis.Redis:
        with self._lock:
            if self._client is None or self._url != url:
                self._client = redis.Redis.from_url(
                    url,
                    socket_timeout=PUBLISH_TIMEOUT_S,
                    socket_connect_timeout=PUBLISH_TIMEOUT_S,
                )
                self._url = url
            return self._client

    def publish(self, events: Sequence[FeedEvent]) -> bool:
        url = settings.redis_url
        if url is None or not events or time.monotonic() < self._paused_until:
            return False
        now = time.time()
        try:
            with self._client_for(url).pipeline(transaction=False) as pipe:
                for event in events:
                    message = FeedEvent(
                        event.kind, event.data, event.experiment_id, event.sweep_id, now
                    ).encode()
                    for channel in channels_of(event):
                        pipe.publish(channel, message)
                pipe.execute()
        except (redis.exceptions.RedisError, OSError):
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_S
            logger.warning(
                "live events not published (Redis at REDIS_URL did not take them); "
                "clients catch up from the store when they reconnect",
                exc_info=True,
            )
            return False
        return True


_publisher = _Publisher()


def publish(*events: FeedEvent) -> bool:
    """Publish ``events`` (one round trip); returns whether Redis took them. Never raises
    for Redis being away: the write the events follow has happened, and stands."""
    return _publisher.publish(events)


# --- subscribing (async: the API) -----------------------------------------------------------


async def subscribe(url: str) -> AsyncIterator[tuple[str, FeedEvent] | None]:
    """Every event on every channel of ``CHANNEL_PATTERN``, as (channel, event), from one
    connection, in the order Redis received them; first ``None`` once the subscription is
    confirmed (a caller that has seen it misses nothing published after). It ends, raising
    the error, when the connection is lost."""
    client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=2.0)
    pubsub = client.pubsub()
    try:
        await pubsub.psubscribe(CHANNEL_PATTERN)
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            if message["type"] == "psubscribe":
                yield None
            elif message["type"] == "pmessage":
                event = FeedEvent.decode(message["data"])
                channel = message["channel"]
                if event is not None:
                    yield channel.decode() if isinstance(channel, bytes) else channel, event
    finally:
        await pubsub.aclose()
        await client.aclose()
