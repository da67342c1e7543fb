"""Store functions for sweeps: create one with its members, add members, read, list,
count, cancel, delete, and what early stopping reads and keeps.

A member is an experiment row plus a ``SweepMemberRow`` (its configuration and seed); the
members are created in the transaction that creates or extends their sweep, and the
sweep's ``rounds`` counter is advanced by a compare-and-set in that same transaction, so
two processes that extend or top up one sweep at once add one round, never two.

Tenants as in ``core.store.experiments``: a request's functions take ``tenant_id`` and see
only that tenant's sweeps.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.metrics import MetricSeries, finite_or_none
from core.spec import ExperimentSpec
from core.store.event_feed import announce_deleted, announce_sweep_status
from core.store.experiments import IdempotencyConflictError, new_experiment_row
from core.store.models import (
    FINISHED_STATUSES,
    ExperimentRow,
    MetricPointRow,
    SweepMemberRow,
    SweepRow,
    SweepStatus,
    utc_now,
)
from core.store.paging import InvalidCursorError, decode_cursor, encode_cursor
from core.store.session import serialized_on_sqlite


@dataclass(frozen=True)
class NewMember:
    """A member to add: its configuration (path → value), its key, its position among the
    sweep's configurations, its seed and the experiment spec they make."""

    config: dict[str, Any]
    config_key: str
    config_index: int
    seed: int
    spec: ExperimentSpec
    group_key: str | None = None
    """The members that train as one stack share it (``core/sweeps/grouping.py``)."""


def sweep_request_hash(spec: dict[str, Any]) -> str:
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _member_rows(
    tenant_id: str,
    members: Sequence[NewMember],
    queue_for: Callable[[Literal["auto", "cpu", "cuda"]], str],
    now: datetime,
) -> list[ExperimentRow]:
    """The members' experiment rows, queued (not yet added to a session)."""
    return [
        new_experiment_row(
            tenant_id=tenant_id, spec=m.spec, queue=queue_for(m.spec.device), now=now
        )
        for m in members
    ]


def _add(
    session: Session,
    sweep_id: str,
    experiments: Sequence[ExperimentRow],
    members: Sequence[NewMember],
) -> None:
    session.add_all(experiments)
    session.flush()
    session.add_all(
        SweepMemberRow(
            experiment_id=experiment.id,
            sweep_id=sweep_id,
            config_index=member.config_index,
            config_key=member.config_key,
            params=member.config,
            seed=member.seed,
            pruner_state=None,
            group_key=member.group_key,
        )
        for experiment, member in zip(experiments, members, strict=True)
    )


@serialized_on_sqlite
def create_sweep(
    *,
    session: Session,
    tenant_id: str,
    spec: dict[str, Any],
    name: str,
    members: Sequence[NewMember],
    queue_for: Callable[[Literal["auto", "cpu", "cuda"]], str],
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> tuple[SweepRow, bool, list[ExperimentRow]]:
    """Store a sweep (``spec``: its definition as JSON) with its first members, queued; returns
    it, whether it was created, and the new members' experiments (to dispatch). A repeat
    of an ``idempotency_key`` with the same definition returns the first sweep and no
    members; with another, raises ``IdempotencyConflictError``."""
    now = now or utc_now()
    request_hash = sweep_request_hash(spec) if idempotency_key is not None else None
    if idempotency_key is not None:
        existing = _by_key(session, tenant_id, idempotency_key)
        if existing is not None:
            return _replayed(existing, idempotency_key, request_hash), False, []
    sweep = SweepRow(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        name=name,
        spec=spec,
        status=SweepStatus.RUNNING,
        rounds=1,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        created_at=now,
        finished_at=None,
    )
    session.add(sweep)
    experiments = _member_rows(tenant_id, members, queue_for, now)
    try:
        session.flush()
        _add(session, sweep.id, experiments, members)
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = _by_key(session, tenant_id, idempotency_key) if idempotency_key else None
        if existing is None:
            raise
        return _replayed(existing, idempotency_key, request_hash), False, []
    return sweep, True, experiments


def _by_key(session: Session, tenant_id: str, key: str) -> SweepRow | None:
    return session.scalar(
        select(SweepRow).where(SweepRow.tenant_id == tenant_id, SweepRow.idempotency_key == key)
    )


def _replayed(existing: SweepRow, key: str | None, request_hash: str | None) -> SweepRow:
    if existing.request_hash != request_hash:
        raise IdempotencyConflictError(key=key or "", experiment_id=existing.id)
    return existing


@serialized_on_sqlite
def add_members(
    *,
    session: Session,
    sweep_id: str,
    after_round: int,
    members: Sequence[NewMember],
    queue_for: Callable[[Literal["auto", "cpu", "cuda"]], str],
    spec: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> list[ExperimentRow] | None:
    """Add a round of members to a sweep (and, with ``spec``, its new definition), if its
    ``rounds`` is still ``after_round``; returns the new members' experiments, or None
    when another process added a round first (nothing written). The sweep runs again
    (an extension of a finished sweep reopens it)."""
    now = now or utc_now()
    values: dict[str, object] = {"rounds": after_round + 1}
    if spec is not None:
        values["spec"] = spec
    if members:
        values |= {"status": SweepStatus.RUNNING.value, "finished_at": None}
    advanced = session.execute(
        update(SweepRow)
        .where(SweepRow.id == sweep_id, SweepRow.rounds == after_round)
        .values(**values)
        .returning(SweepRow.tenant_id)
    ).scalar_one_or_none()
    if advanced is None:
        session.rollback()
        return None
    experiments = _member_rows(advanced, members, queue_for, now)
    try:
        _add(session, sweep_id, experiments, members)
        session.commit()
    except IntegrityError:
        session.rollback()  # a member the sweep has already: another round won the race
        return None
    if members:
        announce_sweep_status(sweep_id, SweepStatus.RUNNING.value)
    return experiments


def get_sweep(*, session: Session, sweep_id: str, tenant_id: str | None) -> SweepRow | None:
    """The sweep, if it exists and is ``tenant_id``'s (None: whoever's it is)."""
    query = select(SweepRow).where(SweepRow.id == sweep_id)
    if tenant_id is not None:
        query = query.where(SweepRow.tenant_id == tenant_id)
    return session.scalars(query).one_or_none()


@dataclass(frozen=True)
class SweepPage:
    data: list[SweepRow]
    next_cursor: str | None


SWEEP_CURSOR_MESSAGE = "cursor is not one this listing returned; start again without it"


def list_sweeps(
    *, session: Session, tenant_id: str | None, cursor: str | None = None, limit: int = 50
) -> SweepPage:
    """One page of the tenant's sweeps, newest first (keyset paging on created_at, id)."""
    query = select(SweepRow)
    if tenant_id is not None:
        query = query.where(SweepRow.tenant_id == tenant_id)
    if cursor is not None:
        decoded = decode_cursor(cursor, message=SWEEP_CURSOR_MESSAGE)
        if (
            not isinstance(decoded, list)
            or len(decoded) != 2
            or not all(isinstance(v, str) for v in decoded)
        ):
            raise InvalidCursorError(SWEEP_CURSOR_MESSAGE)
        try:
            after_time = datetime.fromisoformat(str(decoded[0]))
        except ValueError as exc:
            raise InvalidCursorError(SWEEP_CURSOR_MESSAGE) from exc
        after_id = str(decoded[1])
        query = query.where(
            (SweepRow.created_at < after_time)
            | ((SweepRow.created_at == after_time) & (SweepRow.id < after_id))
        )
    rows = list(
        session.scalars(
            query.order_by(SweepRow.created_at.desc(), SweepRow.id.desc()).limit(limit + 1)
        )
    )
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor([last.created_at.isoformat(), last.id])
    return SweepPage(data=rows[:limit], next_cursor=next_cursor)


def members(*, session: Session, sweep_id: str) -> list[tuple[SweepMemberRow, ExperimentRow]]:
    """Every member of the sweep with its experiment, by configuration and seed."""
    return [
        (member, experiment)
        for member, experiment in session.execute(
            select(SweepMemberRow, ExperimentRow)
            .join(ExperimentRow, ExperimentRow.id == SweepMemberRow.experiment_id)
            .where(SweepMemberRow.sweep_id == sweep_id)
            .order_by(SweepMemberRow.config_index, SweepMemberRow.seed)
        )
    ]


def active_members(*, session: Session, sweep_id: str) -> int:
    """Members still queued or running."""
    return (
        session.scalar(
            select(func.count())
            .select_from(SweepMemberRow)
            .join(ExperimentRow, ExperimentRow.id == SweepMemberRow.experiment_id)
            .where(
                SweepMemberRow.sweep_id == sweep_id, ExperimentRow.status.not_in(FINISHED_STATUSES)
            )
        )
        or 0
    )


def mark_finished(*, session: Session, sweep_id: str, now: datetime | None = None) -> bool:
    """A running sweep whose members have all ended, and that samples no more, is finished."""
    finished = session.execute(
        update(SweepRow)
        .where(SweepRow.id == sweep_id, SweepRow.status == SweepStatus.RUNNING)
        .values(status=SweepStatus.FINISHED.value, finished_at=now or utc_now())
        .returning(SweepRow.id)
    ).scalar_one_or_none()
    session.commit()
    if finished is not None:
        announce_sweep_status(sweep_id, SweepStatus.FINISHED.value)
    return finished is not None


def running_sweep_ids(*, session: Session) -> list[str]:
    """Every sweep still running (for the reaper's tending)."""
    return list(session.scalars(select(SweepRow.id).where(SweepRow.status == SweepStatus.RUNNING)))


def mark_cancelled(*, session: Session, sweep_id: str, now: datetime | None = None) -> None:
    session.execute(
        update(SweepRow)
        .where(SweepRow.id == sweep_id, SweepRow.status != SweepStatus.CANCELLED)
        .values(status=SweepStatus.CANCELLED.value, finished_at=now or utc_now())
    )
    session.commit()
    announce_sweep_status(sweep_id, SweepStatus.CANCELLED.value)


def member_of(*, session: Session, experiment_id: str) -> SweepMemberRow | None:
    """The sweep membership of an experiment, if it is a member."""
    return session.get(SweepMemberRow, experiment_id)


def group_mates(*, session: Session, member: SweepMemberRow) -> list[str]:
    """The other members of ``member``'s group not finished yet, by configuration
    and seed (none for a member that trains alone)."""
    if member.group_key is None:
        return []
    return list(
        session.scalars(
            select(SweepMemberRow.experiment_id)
            .join(ExperimentRow, ExperimentRow.id == SweepMemberRow.experiment_id)
            .where(
                SweepMemberRow.sweep_id == member.sweep_id,
                SweepMemberRow.group_key == member.group_key,
                SweepMemberRow.experiment_id != member.experiment_id,
                ExperimentRow.status.not_in(FINISHED_STATUSES),
            )
            .order_by(SweepMemberRow.config_index, SweepMemberRow.seed)
        )
    )


def metric_values(*, session: Session, sweep_id: str, metric: str) -> dict[str, dict[int, float]]:
    """The metric's finite values per epoch of every member (experiment id → epoch → value)."""
    values: dict[str, dict[int, float]] = {}
    for experiment_id, epoch, value in session.execute(
        select(MetricPointRow.experiment_id, MetricPointRow.epoch, MetricPointRow.value)
        .join(SweepMemberRow, SweepMemberRow.experiment_id == MetricPointRow.experiment_id)
        .where(SweepMemberRow.sweep_id == sweep_id, MetricPointRow.name == metric)
    ):
        if value is not None and value == value and abs(value) != float("inf"):
            values.setdefault(experiment_id, {})[epoch] = value
    return values


def keep_pruner_state(*, session: Session, experiment_id: str, state: dict[str, Any]) -> None:
    session.execute(
        update(SweepMemberRow)
        .where(SweepMemberRow.experiment_id == experiment_id)
        .values(pruner_state=state)
    )
    session.commit()


@serialized_on_sqlite
def delete_sweep(*, session: Session, sweep_id: str) -> bool:
    """Delete a sweep's row and its membership rows (its members' experiments are deleted
    first, one by one, by ``core.store.manage.delete_experiment``); whether it was there."""
    session.execute(delete(SweepMemberRow).where(SweepMemberRow.sweep_id == sweep_id))
    gone = session.scalar(delete(SweepRow).where(SweepRow.id == sweep_id).returning(SweepRow.id))
    session.commit()
    if gone is not None:
        announce_deleted(sweep_id=sweep_id)
    return gone is not None


def member_series(
    *, session: Session, sweep_id: str, names: Sequence[str]
) -> dict[str, dict[str, MetricSeries]]:
    """The named metrics of every member, one query: experiment id → name → series (by
    step; a non-finite value is None, as everywhere the store reads points back)."""
    points: dict[str, dict[str, tuple[list[int], list[int], list[float | None]]]] = {}
    for experiment_id, name, step, epoch, value in session.execute(
        select(
            MetricPointRow.experiment_id,
            MetricPointRow.name,
            MetricPointRow.step,
            MetricPointRow.epoch,
            MetricPointRow.value,
        )
        .join(SweepMemberRow, SweepMemberRow.experiment_id == MetricPointRow.experiment_id)
        .where(SweepMemberRow.sweep_id == sweep_id, MetricPointRow.name.in_(list(names)))
        .order_by(MetricPointRow.experiment_id, MetricPointRow.name, MetricPointRow.step)
    ):
        steps, epochs, values = points.setdefault(experiment_id, {}).setdefault(name, ([], [], []))
        steps.append(step)
        epochs.append(epoch)
        values.append(finite_or_none(value))
    return {
        experiment_id: {
            name: MetricSeries(steps=s, epochs=e, values=v) for name, (s, e, v) in by_name.items()
        }
        for experiment_id, by_name in points.items()
    }
