"""Which queues have a live worker, as the workers announce it in Redis.

Each worker writes, every ``ADAMLAB_HEARTBEAT_INTERVAL_S``, into one sorted set per
queue it consumes (``adamlab:workers:<queue>``) its node name scored by the time its
announcement expires (now + ``ADAMLAB_HEARTBEAT_TIMEOUT_S``), and sets that score to now
when it stops cleanly (``worker/presence.py``). A queue is served while some score lies
in the future; the newest score of a queue without a worker is when it lost its last one.
The API reads this to say that a queued experiment has no worker to wait for, and the
reaper fails such experiments after ``ADAMLAB_NO_WORKER_TIMEOUT_S``. Times are the
hosts' clocks, as heartbeats' are.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
import redis.exceptions

from core.celery_app import QUEUES
from core.settings import settings

PRESENCE_KEY_PREFIX = "adamlab:workers:"
FORGET_AFTER_S = 7 * 24 * 3600.0
"""A worker gone this long is dropped from its queue's set."""
REDIS_TIMEOUT_S = 1.0


def presence_key(queue: str) -> str:
    return f"{PRESENCE_KEY_PREFIX}{queue}"


@dataclass(frozen=True, slots=True)
class QueuePresence:
    queue: str
    served: bool
    """Some worker's announcement for this queue has not expired."""
    unserved_since: datetime | None
    """When not served: when the last worker's announcement expired (None: no worker was
    ever seen)."""


def announce(
    client: redis.Redis, *, node: str, queues: Iterable[str], ttl_s: float, now: float | None = None
) -> None:
    """Say that ``node`` consumes ``queues`` for the next ``ttl_s`` seconds."""
    now = time.time() if now is None else now
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.zadd(presence_key(queue), {node: now + ttl_s})
            pipe.zremrangebyscore(presence_key(queue), "-inf", now - FORGET_AFTER_S)
        pipe.execute()


def withdraw(
    client: redis.Redis, *, node: str, queues: Iterable[str], now: float | None = None
) -> None:
    """Say that ``node`` consumes ``queues`` no longer (it stops cleanly)."""
    now = time.time() if now is None else now
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.zadd(presence_key(queue), {node: now}, xx=True)
        pipe.execute()


def read_presence(
    client: redis.Redis, queues: Iterable[str] = QUEUES, *, now: float | None = None
) -> dict[str, QueuePresence]:
    """Each queue's presence, in one round trip."""
    names = list(queues)
    now = time.time() if now is None else now
    with client.pipeline(transaction=False) as pipe:
        for queue in names:
            pipe.zrevrange(presence_key(queue), 0, 0, withscores=True)
        newest: list[list[tuple[bytes, float]]] = pipe.execute()
    presence: dict[str, QueuePresence] = {}
    for queue, top in zip(names, newest, strict=True):
        expires = top[0][1] if top else None
        served = expires is not None and expires > now
        presence[queue] = QueuePresence(
            queue=queue,
            served=served,
            unserved_since=None
            if served or expires is None
            else datetime.fromtimestamp(expires, UTC),
        )
    return presence


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )


def presence_client() -> redis.Redis | None:
    """This process's client of the broker's Redis (None without REDIS_URL)."""
    return _client(settings.redis_url) if settings.redis_url else None


def queue_presence(queues: Iterable[str] = QUEUES) -> dict[str, QueuePresence] | None:
    """Each queue's presence, or None when Redis cannot say (not configured, or down)."""
    client = presence_client()
    if client is None:
        return None
    try:
        return read_presence(client, queues)
    except redis.exceptions.RedisError:
        return None
