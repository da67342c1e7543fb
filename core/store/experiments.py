"""Store functions for experiments: create and read (listing is ``core.store.listing``).

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
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.spec import SPEC_VERSION, ExperimentSpec
from core.store.models import (
    FINISHED_STATUSES,
    ExperimentRow,
    ExperimentStatus,
    ExperimentTagRow,
    SweepMemberRow,
    TenantRow,
    utc_now,
)
from core.store.session import serialized_on_sqlite

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
    experiments queued or running (a sweep's members aside: the sweep bounds those). The
    count and the insert are one transaction, and on PostgreSQL the tenant's row is locked
    first (SELECT ... FOR UPDATE), so concurrent
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
    experiment = new_experiment_row(tenant_id=tenant_id, spec=spec, queue=queue, now=now)
    experiment.idempotency_key = idempotency_key
    experiment.request_hash = request_hash
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


def new_experiment_row(
    *, tenant_id: str, spec: ExperimentSpec, queue: str, now: datetime | None = None
) -> ExperimentRow:
    """A new queued experiment's row (not yet added to a session)."""
    return ExperimentRow(
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
        cancel_requested=False,
        attempts=0,
        created_at=now or utc_now(),
        tags=[
            ExperimentTagRow(tag=tag, position=position)
            for position, tag in enumerate(dict.fromkeys(spec.tags))
        ],
    )


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
    # A sweep's members are bounded by the sweep (core.sweeps.spec.MAX_MEMBERS), not here.
    active = session.execute(
        select(func.count(), func.min(ExperimentRow.eta_s)).where(
            ExperimentRow.tenant_id == tenant_id,
            ExperimentRow.status.not_in(FINISHED_STATUSES),
            ExperimentRow.id.not_in(select(SweepMemberRow.experiment_id)),
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
