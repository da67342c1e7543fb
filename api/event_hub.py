"""The API process's one subscription to the live events (``core.events``), fanned out to
its open event streams.

One task holds one Redis connection subscribed to every events channel; each open stream
registers a ``Listener`` on its channel (an experiment's or a sweep's) and the task hands
each message to the listeners of its channel, in the order Redis received them. A
listener that falls ``max_pending`` events behind (a client that does not read), and every
listener when the subscription is lost (Redis restarted), is *lost*: its stream ends, and
the client's reconnection resumes from its ``Last-Event-ID`` through the store, so nothing
is lost that way either. The subscription is made at the first stream and made again,
with backoff, after a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable

import redis.exceptions

from core.events import FeedEvent, subscribe
from core.settings import settings

logger = logging.getLogger(__name__)

RETRY_MIN_S = 0.2
RETRY_MAX_S = 5.0


class ListenerLostError(Exception):
    """The listener missed events: its stream must end (the client resumes)."""


class Listener:
    """The events of one channel for one stream, in order."""

    def __init__(self, channel: str, *, max_pending: int) -> None:
        self.channel = channel
        self._max_pending = max_pending
        self._pending: deque[FeedEvent] = deque()
        self._wake = asyncio.Event()
        self.lost: str | None = None

    def deliver(self, event: FeedEvent) -> None:
        if self.lost is not None:
            return
        if len(self._pending) >= self._max_pending:
            self.lose(f"more than {self._max_pending} events waiting for the client")
            return
        self._pending.append(event)
        self._wake.set()

    def lose(self, reason: str) -> None:
        self.lost = reason
        self._pending.clear()
        self._wake.set()

    async def next_events(self) -> list[FeedEvent]:
        """Every event waiting, at least one (waits for it); raises ListenerLostError."""
        while not self._pending and self.lost is None:
            self._wake.clear()
            await self._wake.wait()
        if self.lost is not None:
            raise ListenerLostError(self.lost)
        events = list(self._pending)
        self._pending.clear()
        return events


class EventHub:
    def __init__(self, redis_url: Callable[[], str | None], *, max_pending: int = 10_000) -> None:
        self._redis_url = redis_url
        self._max_pending = max_pending
        self._listeners: dict[str, set[Listener]] = {}
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> int:
        return sum(len(listeners) for listeners in self._listeners.values())

    async def ready(self, timeout_s: float) -> bool:
        """Start the subscription if needed; whether it is confirmed within ``timeout_s``."""
        if self._task is None or self._task.done():
            self._subscribed = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="event-hub")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout_s)
        return self._subscribed.is_set()

    @contextlib.asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[Listener]:
        """A listener on ``channel`` from now on (call once ``ready``)."""
        listener = Listener(channel, max_pending=self._max_pending)
        if not self._subscribed.is_set():  # lost since ``ready``: events may be missed
            listener.lose("the subscription to the live events is being made again")
        self._listeners.setdefault(channel, set()).add(listener)
        try:
            yield listener
        finally:
            listeners = self._listeners.get(channel)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[channel]

    def _lose_all(self, reason: str) -> None:
        for listeners in self._listeners.values():
            for listener in listeners:
                listener.lose(reason)

    async def _run(self) -> None:
        delay = RETRY_MIN_S
        while True:
            url = self._redis_url()
            if url is None:
                return
            try:
                async for item in subscribe(url):
                    if item is None:
                        self._subscribed.set()
                        delay = RETRY_MIN_S
                        continue
                    channel, event = item
                    for listener in self._listeners.get(channel, ()):
                        listener.deliver(event)
            except (redis.exceptions.RedisError, OSError):
                logger.warning("the live events' subscription was lost", exc_info=True)
            self._subscribed.clear()
            self._lose_all("the subscription to the live events was lost")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._lose_all("the server is stopping")


hub = EventHub(lambda: settings.redis_url, max_pending=settings.events_max_pending)
"""This process's one subscription to the live events."""
