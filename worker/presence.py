"""The worker's announcement of the queues it consumes (``core/presence.py``).

Once the worker's consumer is ready (Celery's ``worker_ready``, in the main process), a
thread announces the node on each of its queues every ``ADAMLAB_HEARTBEAT_INTERVAL_S``,
valid for ``ADAMLAB_HEARTBEAT_TIMEOUT_S``; a clean stop (``worker_shutdown``) withdraws
it at once. A worker killed hard stops announcing and its announcement expires. A Redis
error is logged and the next beat tries again.
"""

from __future__ import annotations

import logging
import threading

import redis
import redis.exceptions
from celery.signals import worker_ready, worker_shutdown

from core.presence import announce, withdraw
from core.settings import settings

logger = logging.getLogger(__name__)


class PresenceAnnouncer:
    def __init__(self, *, client: redis.Redis, node: str, queues: list[str]) -> None:
        self._client = client
        self._node = node
        self._queues = queues
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="presence", daemon=True)

    def start(self) -> None:
        self._beat()
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5.0)
        try:
            withdraw(self._client, node=self._node, queues=self._queues)
        except redis.exceptions.RedisError:
            logger.warning("could not withdraw %s from its queues", self._node, exc_info=True)

    def _run(self) -> None:
        while not self._stopped.wait(settings.heartbeat_interval_s):
            self._beat()

    def _beat(self) -> None:
        try:
            announce(
                self._client,
                node=self._node,
                queues=self._queues,
                ttl_s=settings.heartbeat_timeout_s,
            )
        except redis.exceptions.RedisError:
            logger.warning("announcing %s on %s failed", self._node, self._queues, exc_info=True)


_announcer: list[PresenceAnnouncer] = []


@worker_ready.connect
def _start_announcing(sender: object = None, **_: object) -> None:
    if settings.redis_url is None or sender is None:
        return
    hostname = str(getattr(sender, "hostname", "worker"))
    consumer = getattr(sender, "task_consumer", None)
    queues = sorted({str(queue.name) for queue in getattr(consumer, "queues", [])})
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0
    )
    announcer = PresenceAnnouncer(client=client, node=hostname, queues=queues)
    announcer.start()
    _announcer.append(announcer)


@worker_shutdown.connect
def _stop_announcing(**_: object) -> None:
    while _announcer:
        _announcer.pop().stop()
