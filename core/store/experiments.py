"""Store functions for experiments: create, read and list.

A run's life cycle (claim, heartbeat, finish, cancel, reap) is ``core.store.lifecycle``.

Tenants: every function a request reaches takes a keyword-only ``tenant_id`` and sees only
that tenant's experiments; another tenant's experiment is as absent as an unknown id.
``tenant_id=None`` (the worker, the reaper, an administrator) sees them all: it has to be
written out, so a caller cannot forget the tenant by accident.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVarTuple

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.metrics import METRICS
from core.spec import SPEC_VERSION, ExperimentSpec
from core.store.models import (
    FINISHED_STATUSES,
    ExperimentRow,
    ExperimentStatus,
    ExperimentTagRow,
    TenantRow,
    utc_now,
)
from core.store.paging import (
    InvalidCursorError,
    Sortable,
    decode_cursor,
    encode_cursor,
    keyset_after,
    keyset_order,
)
from core.store.session import serialized_on_sqlite
from core.text import did_you_mean

_Columns = TypeVarTuple("_Columns")

# --- creating and reading -----------------------------------------------------------------


class IdempotencyConflictError(Exception):
    """The idempotency key was used before with a different spec."""

    def __init__(self, *, key: str, experiment_id: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for experiment {experiment_id} "
            "with a different body; use a new key for a new experiment"
        )
        self.key = key
        self.experiment_id = experiment_id


class TenantLimitError(Exception):
    """The tenant already has its maximum of queued and running experiments."""

    def __init__(self, *, active: int, limit: int, retry_after_s: int) -> None:
        super().__init__(
            f"You have {active} experiments queued or running, the most allowed at once "
            f"({limit}, ADAMLAB_MAX_ACTIVE_PER_TENANT); submit again when one has finished "
            "or after cancelling one."
        )
        self.active = active
        self.limit = limit
        self.retry_after_s = retry_after_s


RETRY_AFTER_DEFAULT_S = 60
"""Retry-After when no running experiment of the tenant has an ETA (all still queued)."""
RETRY_AFTER_MAX_S = 3600


def spec_hash(spec: ExperimentSpec) -> str:
    """sha256 of the spec's canonical JSON (defaults filled, keys sorted): two bodies that
    validate to the same spec have the same hash, whatever their formatting."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@serialized_on_sqlite
def create_experiment(
    *,
    session: Session,
    tenant_id: str,
    spec: ExperimentSpec,
    queue: str,
    idempotency_key: str | None = None,
    max_active: int | None = None,
    now: datetime | None = None,
) -> tuple[ExperimentRow, bool]:
    """Store a new queued experiment of ``tenant_id``; returns it and whether it was created.

    With an ``idempotency_key`` the tenant already used for the same spec, returns that
    experiment and ``False``; used for another spec, raises ``IdempotencyConflictError``.
    With ``max_active``, raises ``TenantLimitError`` when the tenant already has that many
    experiments queued or running. The count and the insert are one transaction, and on
    PostgreSQL the tenant's row is locked first (SELECT ... FOR UPDATE), so concurrent
    submissions of one tenant, in any number of API processes, are counted one after the
    other. SQLite has no row locks: there the writers of one process queue on
    ``serialized_on_sqlite``'s lock, which covers the embedded default's single API process.
    """
    request_hash = spec_hash(spec) if idempotency_key is not None else None
    if idempotency_key is not None:
        existing = _by_idempotency_key(session, tenant_id, idempotency_key)
        if existing is not None:
            return _replayed(existing, idempotency_key, request_hash), False
    if max_active is not None:
        _check_active_limit(session, tenant_id=tenant_id, limit=max_active)
    experiment = ExperimentRow(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        name=spec.name,
        dataset=spec.dataset.name,
        model=spec.model.name,
        optimizer=spec.optimizer.name,
        requested_device=spec.device,
        queue=queue,
        spec=spec.model_dump(mode="json"),
        spec_version=SPEC_VERSION,
        status=ExperimentStatus.QUEUED,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        cancel_requested=False,
        attempts=0,
        created_at=now or utc_now(),
        tags=[
            ExperimentTagRow(tag=tag, position=position)
            for position, tag in enumerate(dict.fromkeys(spec.tags))
        ],
    )
    session.add(experiment)
    try:
        session.commit()
    except IntegrityError:
        # Two requests with the same new key raced; the other one's insert won.
        session.rollback()
        existing = (
            _by_idempotency_key(session, tenant_id, idempotency_key) if idempotency_key else None
        )
        if existing is None:
            raise
        return _replayed(existing, idempotency_key, request_hash), False
    return experiment, True


def _by_idempotency_key(session: Session, tenant_id: str, key: str) -> ExperimentRow | None:
    return session.scalar(
        select(ExperimentRow).where(
            ExperimentRow.tenant_id == tenant_id, ExperimentRow.idempotency_key == key
        )
    )


def _check_active_limit(session: Session, *, tenant_id: str, limit: int) -> None:
    """Raise TenantLimitError if the tenant has ``limit`` experiments queued or running.
    Leaves the transaction open (and the tenant's row locked on PostgreSQL) for the insert."""
    locked = session.execute(
        select(TenantRow.id).where(TenantRow.id == tenant_id).with_for_update()
    ).scalar_one_or_none()
    if locked is None:
        raise ValueError(f"tenant_id {tenant_id!r} is not a tenant of this store")
    active = session.execute(
        select(func.count(), func.min(ExperimentRow.eta_s)).where(
            ExperimentRow.tenant_id == tenant_id, ExperimentRow.status.not_in(FINISHED_STATUSES)
        )
    ).one()
    count, soonest_eta_s = active
    if count >= limit:
        session.rollback()
        retry_after_s = (
            min(RETRY_AFTER_MAX_S, max(1, math.ceil(soonest_eta_s)))
            if soonest_eta_s is not None
            else RETRY_AFTER_DEFAULT_S
        )
        raise TenantLimitError(active=count, limit=limit, retry_after_s=retry_after_s)


def _replayed(existing: ExperimentRow, key: str | None, request_hash: str | None) -> ExperimentRow:
    if existing.request_hash != request_hash:
        raise IdempotencyConflictError(key=key or "", experiment_id=existing.id)
    return existing


def is_experiment_id(text: str) -> bool:
    """Whether ``text`` can be an experiment's id: a UUID as ``create_experiment`` writes
    it (lowercase, hyphenated)."""
    if len(text) != 36:
        return False
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def get_experiment(
    *, session: Session, experiment_id: str, tenant_id: str | None
) -> ExperimentRow | None:
    """The experiment, if it exists and is ``tenant_id``'s (None: whoever's it is).

    One query filtered by both id and tenant: another tenant's experiment is never
    loaded, so it takes the very path (and time) of an id that does not exist."""
    query = select(ExperimentRow).where(ExperimentRow.id == experiment_id)
    if tenant_id is not None:
        query = query.where(ExperimentRow.tenant_id == tenant_id)
    return session.scalars(query).one_or_none()


# --- listing --------------------------------------------------------------------------------

SORT_COLUMNS = {
    "created_at": ExperimentRow.created_at,
    "name": ExperimentRow.name,
    "status": ExperimentRow.status,
    "dataset": ExperimentRow.dataset,
    "model": ExperimentRow.model,
    "optimizer": ExperimentRow.optimizer,
}
"""Columns a list can be sorted by: ``<key>`` ascending, ``-<key>`` descending, ties by id."""

SORT_METRICS = tuple(name for name, info in METRICS.items() if info.per == "epoch")
"""Final metrics a list can be sorted by (``final_metrics`` holds the last epoch's): runs
without the metric (not finished, failed before an epoch ended, a metric of another task,
a value that was not finite) come last in both directions."""

SORT_KEYS = (*SORT_COLUMNS, *SORT_METRICS)
"""Every sort key, each also with a '-' prefix for descending order."""

MAX_SEARCH_CHARS = 200
"""Longest ``name_contains``: an experiment's name is at most this long."""


@dataclass(frozen=True, slots=True)
class ExperimentFilters:
    """Filters of a listing, applied before paging. Within one filter the values are
    alternatives (status queued OR running); every tag must be present; ``name_contains``
    is a case-insensitive substring of the name (``%`` and ``_`` are plain characters)."""

    status: Sequence[str] = ()
    dataset: Sequence[str] = ()
    model: Sequence[str] = ()
    optimizer: Sequence[str] = ()
    name: Sequence[str] = ()
    tags: Sequence[str] = ()
    name_contains: str | None = None


@dataclass(frozen=True, slots=True)
class ExperimentPage:
    data: list[ExperimentRow]
    count: int
    """How many experiments match the filters, over all pages."""
    next_cursor: str | None


def parse_sort(sort: str) -> tuple[str, bool]:
    """``"-created_at"`` → ``("created_at", True)``; raises ValueError for an unknown key."""
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key not in SORT_KEYS:
        hint = did_you_mean(sort, [*SORT_KEYS, *(f"-{known}" for known in SORT_KEYS)])
        raise ValueError(
            f"sort must be one of {', '.join(SORT_KEYS)}, each optionally prefixed with '-' "
            "for descending order" + (f"; {hint}" if hint else "")
        )
    return key, descending


def _sort_value(key: str) -> Sortable:
    """What rows are ordered by for sort key ``key``: its column, or the final metric read
    from the JSON column as a number (NULL where the run has none)."""
    if key in SORT_COLUMNS:
        return SORT_COLUMNS[key]
    return ExperimentRow.final_metrics[key].as_float()


def list_experiments(
    *,
    session: Session,
    tenant_id: str | None,
    filters: ExperimentFilters,
    sort: str = "-created_at",
    cursor: str | None = None,
    limit: int = 50,
) -> ExperimentPage:
    """One page of the experiments matching ``filters``, in ``sort`` order (keyset paging:
    a cursor holds the sort value and id of the page's last row, so pages do not shift when
    experiments are added). Only ``tenant_id``'s experiments (None: everyone's).

    A metric sort orders by the value the database reads from ``final_metrics``, and the
    cursor holds that value as the database returned it, so the next page compares the
    very number (no decimal round trip through Python between the two)."""
    key, descending = parse_sort(sort)
    value = _sort_value(key)
    nulls_last = key in SORT_METRICS
    query = _filtered(select(ExperimentRow, value), filters, tenant_id=tenant_id)
    count = (
        session.scalar(
            _filtered(select(func.count()).select_from(ExperimentRow), filters, tenant_id=tenant_id)
        )
        or 0
    )
    if cursor is not None:
        after_value, after_id = _decode_cursor(cursor, sort=sort)
        query = query.where(
            keyset_after(
                value,
                ExperimentRow.id,
                after_value=after_value,
                after_id=after_id,
                descending=descending,
                nulls_last=nulls_last,
            )
        )
    order = keyset_order(value, ExperimentRow.id, descending=descending, nulls_last=nulls_last)
    found = session.execute(query.order_by(*order).limit(limit + 1)).all()
    rows = [row for row, _value in found[:limit]]
    next_cursor = None
    if len(found) > limit:
        last, last_value = found[limit - 1]
        next_cursor = _encode_cursor(sort=sort, value=last_value, row_id=last.id)
    return ExperimentPage(data=rows, count=count, next_cursor=next_cursor)


def _filtered(
    query: Select[*_Columns], filters: ExperimentFilters, *, tenant_id: str | None
) -> Select[*_Columns]:
    if tenant_id is not None:
        query = query.where(ExperimentRow.tenant_id == tenant_id)
    for column, values in (
        (ExperimentRow.status, filters.status),
        (ExperimentRow.dataset, filters.dataset),
        (ExperimentRow.model, filters.model),
        (ExperimentRow.optimizer, filters.optimizer),
        (ExperimentRow.name, filters.name),
    ):
        if values:
            query = query.where(column.in_(list(values)))
    if filters.name_contains is not None:
        query = query.where(ExperimentRow.name.icontains(filters.name_contains, autoescape=True))
    tags = list(dict.fromkeys(filters.tags))
    if tags:
        # One subquery on the index of tags, whatever their number: the experiments that
        # have every one of them.
        query = query.where(
            ExperimentRow.id.in_(
                select(ExperimentTagRow.experiment_id)
                .where(ExperimentTagRow.tag.in_(tags))
                .group_by(ExperimentTagRow.experiment_id)
                .having(func.count(ExperimentTagRow.tag.distinct()) == len(tags))
            )
        )
    return query


CURSOR_MESSAGE = "cursor is not one this listing returned; start again without it"


def _encode_cursor(*, sort: str, value: object, row_id: str) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    if not (value is None or isinstance(value, str | int | float)):
        raise TypeError(f"a sort value of type {type(value).__name__} cannot be in a cursor")
    return encode_cursor({"sort": sort, "value": value, "id": row_id})


def _decode_cursor(cursor: str, *, sort: str) -> tuple[object, str]:
    """The sort value and id of the row a page ended with. A column's value is text (a
    time in ISO format for created_at); a metric's is a number, or null in the tail of runs
    without it."""
    decoded = decode_cursor(cursor, message=CURSOR_MESSAGE)
    if not isinstance(decoded, dict):
        raise InvalidCursorError(CURSOR_MESSAGE)
    cursor_sort, value, row_id = decoded.get("sort"), decoded.get("value"), decoded.get("id")
    if cursor_sort != sort:
        raise InvalidCursorError(
            f"cursor was made for sort={cursor_sort!r}, not sort={sort!r}; start again without it"
        )
    if not isinstance(row_id, str):
        raise InvalidCursorError(CURSOR_MESSAGE)
    key = parse_sort(sort)[0]
    if key in SORT_METRICS:
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            return value, row_id
        raise InvalidCursorError(CURSOR_MESSAGE)
    if not isinstance(value, str):
        raise InvalidCursorError(CURSOR_MESSAGE)
    if key == "created_at":
        try:
            return datetime.fromisoformat(value), row_id
        except ValueError as exc:
            raise InvalidCursorError(CURSOR_MESSAGE) from exc
    return value, row_id
