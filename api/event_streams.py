"""The event streams of ``/v1/experiments/{id}/events`` and ``/v1/sweeps/{id}/events``: a
connection registers its listener with the hub first, reads the store once for what the
client has not had (its ``Last-Event-ID``, ``api.event_positions``), then forwards the
live events above its position. Each event's ``id`` is the position after it.

An experiment's stream: ``progress``, ``points`` (at most ``POINTS_PER_EVENT`` each; the
history a metric at a time, live as written),
``status`` and, once the status is final, ``end``, after which the stream closes. A
stream of something deleted closes at once (a reconnection is 404).

A sweep's stream: its members' ``status`` (from ``running`` on: a member starts queued),
``progress`` and ``points``, each naming its experiment; a ``sweep`` event with the
members' counts first and after each member's status; ``end`` when the sweep is no longer
running and every member has ended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.event_hub import EventHub, ListenerLostError
from api.event_positions import (
    TERMINAL_STATUSES,
    ExperimentPosition,
    SweepPosition,
    members_hash,
)
from core.events import (
    EventKind,
    FeedEvent,
    experiment_channel,
    point_data,
    progress_event,
    status_event,
    sweep_channel,
    to_json,
)
from core.store.event_history import (
    ExperimentState,
    SweepState,
    experiment_state,
    points_above,
    sweep_state,
)
from core.store.metrics import metric_names

POINTS_PER_EVENT = 1000
RETRY_MS = 1000
"""How long a browser waits before it reconnects a stream that was cut."""
MEMBER_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "stopped")

OpenSession = Callable[[], AbstractContextManager[Session]]


def _frame(kind: str, data_json: str, position_id: str) -> bytes:
    """One event as the stream sends it. The JSON text has no line break (json.dumps
    escapes them), so it is one ``data:`` line; the id has none either (its alphabet)."""
    return f"event: {kind}\nid: {position_id}\ndata: {data_json}\n\n".encode()


def _sse(kind: str, data: dict[str, Any], position_id: str) -> bytes:
    return _frame(kind, to_json(data), position_id)


RETRY_FRAME = f"retry: {RETRY_MS}\n\n".encode()
"""The stream's first frame: how long a browser waits before it reconnects."""


async def _stored_points(
    open_session: OpenSession, experiment_id: str, positions: dict[str, int]
) -> AsyncIterator[list[dict[str, Any]]]:
    """The stored points above ``positions``, a metric at a time, a page at a time."""

    def names() -> list[str]:
        with open_session() as session:
            return metric_names(session=session, experiment_id=experiment_id)

    def page(name: str, above_step: int) -> list[dict[str, Any]]:
        with open_session() as session:
            points = points_above(
                session=session,
                experiment_id=experiment_id,
                name=name,
                above_step=above_step,
                limit=POINTS_PER_EVENT,
            )
        return [point_data(point) for point in points]

    for name in await run_in_threadpool(names):
        above_step = positions.get(name, 0)
        while True:
            points = await run_in_threadpool(page, name, above_step)
            if points:
                yield points
            if len(points) < POINTS_PER_EVENT:
                break
            above_step = points[-1]["step"]


def _chunks(points: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(points), POINTS_PER_EVENT):
        yield points[start : start + POINTS_PER_EVENT]


class _Member:
    """One experiment's events against its client's position; ``encode`` gives the id of the
    stream (an experiment's position, or its sweep's)."""

    def __init__(
        self,
        experiment_id: str,
        position: ExperimentPosition,
        *,
        sweep_id: str | None,
        encode: Callable[[], str],
    ) -> None:
        self.experiment_id = experiment_id
        self.position = position
        self.sweep_id = sweep_id
        self._encode = encode

    def status(self, status: str) -> bytes | None:
        if not self.position.take_status(status):
            return None
        event = status_event(self.experiment_id, status, sweep_id=self.sweep_id)
        return _sse(EventKind.STATUS, event.data, self._encode())

    def progress(self, data: dict[str, Any], data_json: str = "") -> bytes | None:
        if not self.position.take_progress(data.get("step")):
            return None
        return _frame(EventKind.PROGRESS, data_json or to_json(data), self._encode())

    def points(self, points: list[dict[str, Any]], data_json: str = "") -> Iterator[bytes]:
        """The points the client lacks; ``data_json``, the event's own text, when it lacks
        them all (one encoding for every stream)."""
        fresh = self.position.take_points(points)
        if fresh is points and data_json and len(points) <= POINTS_PER_EVENT:
            yield _frame(EventKind.POINTS, data_json, self._encode())
            return
        for chunk in _chunks(fresh):
            data = {"experiment_id": self.experiment_id, "points": chunk}
            yield _sse(EventKind.POINTS, data, self._encode())

    def live(self, event: FeedEvent) -> Iterator[bytes]:
        """The client's events of one live event (none: it has it already)."""
        found: bytes | None = None
        if event.kind == EventKind.STATUS:
            found = self.status(str(event.data.get("status")))
        elif event.kind == EventKind.PROGRESS:
            found = self.progress(event.data, event.data_json)
        elif event.kind == EventKind.POINTS:
            yield from self.points(event.data.get("points") or [], event.data_json)
        if found is not None:
            yield found

    async def history(
        self, state: ExperimentState, open_session: OpenSession
    ) -> AsyncIterator[bytes]:
        """What the store holds that the client has not had: progress, points, status."""
        progress = progress_event(self.experiment_id, state.progress, sweep_id=None)
        found = self.progress(progress.data)
        if found is not None:
            yield found
        async for page in _stored_points(open_session, self.experiment_id, self.position.points):
            for sse in self.points(page):
                yield sse
        found = self.status(state.status)
        if found is not None:
            yield found


def _ended(position: ExperimentPosition, experiment_id: str) -> bytes | None:
    """``end``, once the final status has been sent."""
    if position.status not in TERMINAL_STATUSES or position.ended:
        return None
    position.ended = True
    data = {"experiment_id": experiment_id, "status": position.status}
    return _sse("end", data, position.encode())


async def experiment_events(
    *,
    experiment_id: str,
    position: ExperimentPosition,
    hub: EventHub,
    open_session: OpenSession,
) -> AsyncIterator[bytes]:
    async with hub.listen(experiment_channel(experiment_id)) as listener:

        def read() -> ExperimentState | None:
            with open_session() as session:
                return experiment_state(session=session, experiment_id=experiment_id)

        state = await run_in_threadpool(read)
        if state is None:
            return  # deleted since the route found it
        member = _Member(experiment_id, position, sweep_id=state.sweep_id, encode=position.encode)
        async for sse in member.history(state, open_session):
            yield sse
        while True:
            end = _ended(position, experiment_id)
            if end is not None:
                yield end
                return
            try:
                events = await listener.next_events()
            except ListenerLostError:
                return  # the client reconnects and resumes from its position
            for event in events:
                if event.kind == EventKind.DELETED:
                    return
                for sse in member.live(event):
                    yield sse


class _SweepStream:
    """A sweep's members against its client's position."""

    def __init__(self, sweep_id: str, position: SweepPosition) -> None:
        self.sweep_id = sweep_id
        self.position = position
        self.ids: list[str] = []
        self.ordinals: dict[str, int] = {}
        self.statuses: dict[str, str] = {}

    def adopt(self, state: SweepState) -> bool:
        """Take the store's members; False when the position's ordinals no longer name the
        same experiments (a member was deleted), or the store has fewer members."""
        ids = [member.experiment_id for member in state.members]
        known = self.position.known
        if known > len(ids) or (known and members_hash(ids[:known]) != self.position.known_hash):
            return False
        for member in state.members[len(self.ids) :]:
            self.statuses.setdefault(member.experiment_id, "queued")
        self.ids = ids
        self.ordinals = {experiment_id: ordinal for ordinal, experiment_id in enumerate(ids)}
        self.position.known = len(ids)
        self.position.known_hash = members_hash(ids)
        return True

    def member(self, experiment_id: str) -> _Member | None:
        ordinal = self.ordinals[experiment_id]
        if ordinal in self.position.done:
            return None
        position = self.position.members.setdefault(ordinal, ExperimentPosition(status="queued"))
        return _Member(experiment_id, position, sweep_id=self.sweep_id, encode=self.position.encode)

    def settle(self, member: _Member) -> None:
        """After a member's events: a final status makes it done."""
        self.statuses[member.experiment_id] = member.position.status or "queued"
        if member.position.status in TERMINAL_STATUSES:
            self.position.finish_member(self.ordinals[member.experiment_id])

    def counts(self) -> bytes:
        tally = Counter(self.statuses.values())
        members = {"total": len(self.ids)} | {status: tally[status] for status in MEMBER_STATUSES}
        data = {"sweep_id": self.sweep_id, "status": self.position.status, "members": members}
        return _sse(EventKind.SWEEP, data, self.position.encode())

    def end(self) -> bytes | None:
        """``end``, once the sweep is no longer running and every member has ended."""
        position = self.position
        if position.ended or position.status in (None, "running"):
            return None
        if len(position.done) < len(self.ids):
            return None
        position.ended = True
        data = {"sweep_id": self.sweep_id, "status": position.status}
        return _sse("end", data, position.encode())


async def sweep_events(
    *,
    sweep_id: str,
    position: SweepPosition,
    hub: EventHub,
    open_session: OpenSession,
) -> AsyncIterator[bytes]:
    def read() -> SweepState | None:
        with open_session() as session:
            return sweep_state(session=session, sweep_id=sweep_id)

    async with hub.listen(sweep_channel(sweep_id)) as listener:
        state = await run_in_threadpool(read)
        if state is None:
            return
        stream = _SweepStream(sweep_id, position)
        if not stream.adopt(state):  # ordinals renamed: start over
            stream = _SweepStream(sweep_id, SweepPosition())
            stream.adopt(state)
        yield RETRY_FRAME
        fresh = stream.position.status is None
        changed = stream.position.take_status(state.status)
        for member_state in state.members:
            stream.statuses[member_state.experiment_id] = member_state.status
            ordinal = stream.ordinals[member_state.experiment_id]
            if ordinal not in stream.position.done:
                sent = stream.position.members.get(ordinal, ExperimentPosition(status="queued"))
                changed = changed or sent.status != member_state.status
        if fresh or changed:
            yield stream.counts()  # the overview first, from the store's statuses
        for member_state in state.members:
            member = stream.member(member_state.experiment_id)
            if member is None:
                continue
            async for sse in member.history(member_state, open_session):
                yield sse
            stream.settle(member)
        while True:
            end = stream.end()
            if end is not None:
                yield end
                return
            try:
                events = await listener.next_events()
            except ListenerLostError:
                return
            for event in events:
                if event.kind == EventKind.DELETED:
                    if event.experiment_id is None:
                        return  # the sweep
                    continue
                if event.kind == EventKind.SWEEP:
                    if stream.position.take_status(str(event.data.get("status"))):
                        yield stream.counts()
                    continue
                experiment_id = event.experiment_id or ""
                if experiment_id not in stream.ordinals:
                    state = await run_in_threadpool(read)  # a member added since
                    if state is None or not stream.adopt(state):
                        return  # deleted, or members renumbered: the client starts over
                    if experiment_id not in stream.ordinals:
                        continue
                member = stream.member(experiment_id)
                if member is None:
                    continue
                before = member.position.status
                for sse in member.live(event):
                    yield sse
                stream.settle(member)
                if member.position.status != before:
                    yield stream.counts()
