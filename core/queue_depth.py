"""How many jobs wait in each of the broker's queues, read from kombu's Redis lists."""

from __future__ import annotations

import redis
import redis.exceptions
from kombu.transport.redis import PRIORITY_STEPS, Channel

from core.celery_app import QUEUES, BrokerUnavailableError

QUEUE_DEPTH_TIMEOUT_S = 2.0


def _priority_keys(queue: str) -> list[str]:
    """The Redis lists kombu keeps a queue in: the queue's name for priority 0, and
    ``<name><sep><priority>`` for each other priority step."""
    return [queue] + [f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS if step]


def queue_depths(redis_url: str, *, timeout_s: float = QUEUE_DEPTH_TIMEOUT_S) -> dict[str, int]:
    """Messages waiting in each queue (taken but unacknowledged ones are not waiting);
    raises BrokerUnavailableError when the broker does not answer within ``timeout_s``."""
    client = redis.Redis.from_url(
        redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
    try:
        with client.pipeline(transaction=False) as pipe:
            for queue in QUEUES:
                for key in _priority_keys(queue):
                    pipe.llen(key)
            lengths = iter(pipe.execute())
        return {queue: sum(next(lengths) for _ in _priority_keys(queue)) for queue in QUEUES}
    except redis.exceptions.RedisError as exc:
        raise BrokerUnavailableError(f"the broker at REDIS_URL does not answer: {exc}") from exc
    finally:
        client.close()
