"""The store's tables: tenants and their API keys, experiments (with their tags), metric
points, checkpoint files, sweeps and their members.

Times are UTC. They are stored without a zone (SQLite has none) and come back aware.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UtcDateTime(TypeDecorator[datetime]):
    """A UTC instant: stored naive (the same text on SQLite, the same type on PostgreSQL, so
    comparisons in SQL agree), returned timezone-aware."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UtcDateTime needs an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


BIGINT_MAX = 2**63 - 1
"""The largest value of a BigInteger column (a step): what a query may compare one with."""

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
"""A value of a JSON column (or of a page cursor)."""


class ExperimentStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"
    """Stopped early by its sweep's early-stopping rule (``stop_reason`` says why)."""


FINISHED_STATUSES = frozenset(
    {
        ExperimentStatus.SUCCEEDED,
        ExperimentStatus.FAILED,
        ExperimentStatus.CANCELLED,
        ExperimentStatus.STOPPED,
    }
)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON()}


DEFAULT_TENANT_ID = "default"
"""The tenant of experiments made before tenants existed, and of every request when keys
are not required (ADAMLAB_AUTH=disabled)."""


class TenantRow(Base):
    """Who experiments belong to: a person or team. Each API key acts for one tenant, and
    a tenant sees only its own experiments."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class ApiKeyRow(Base):
    """An API key of a tenant. The key itself is never stored: only its SHA-256, which is
    enough for a key of 256 random bits (nothing to guess, so no slow hash is needed)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ExperimentRow(Base):
    """One submitted spec and everything known about its run.

    ``lease_id`` names the current claim of a worker on the job: a worker's heartbeats and
    its final write count only while its lease is the row's (see ``core.store.lifecycle``).
    """

    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", name="fk_experiments_tenant_id_tenants")
    )
    name: Mapped[str] = mapped_column(String(200), index=True)
    dataset: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str] = mapped_column(String(64), index=True)
    optimizer: Mapped[str] = mapped_column(String(64), index=True)
    requested_device: Mapped[str] = mapped_column(String(16))
    queue: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]]
    spec_version: Mapped[int] = mapped_column(Integer)

    status: Mapped[str] = mapped_column(String(16), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_id: Mapped[str | None] = mapped_column(String(36))
    worker: Mapped[str | None] = mapped_column(String(255))
    device: Mapped[str | None] = mapped_column(String(32))

    created_at: Mapped[datetime] = mapped_column(index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]

    epoch: Mapped[int | None] = mapped_column(Integer)
    epochs: Mapped[int | None] = mapped_column(Integer)
    step: Mapped[int | None] = mapped_column(BigInteger)
    total_steps: Mapped[int | None] = mapped_column(BigInteger)
    fraction: Mapped[float | None] = mapped_column(Double)
    eta_s: Mapped[float | None] = mapped_column(Double)

    final_metrics: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    resumed_from_epoch: Mapped[int | None] = mapped_column(Integer)
    environment: Mapped[dict[str, Any] | None]
    """The run's reproducibility record (``core.run_environment.RunEnvironment``)."""
    stop_reason: Mapped[str | None] = mapped_column(Text)
    """Why a sweep's early-stopping rule stopped it (status ``stopped``); else null."""
    note: Mapped[str | None] = mapped_column(Text)
    """Free text of its owner's (``core.store.manage.edit_experiment``), at most
    ``core.text.MAX_NOTE_CHARS`` characters; null: none."""

    tags: Mapped[list[ExperimentTagRow]] = relationship(
        back_populates="experiment",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="ExperimentTagRow.position",
    )

    __table_args__ = (
        Index("ix_experiments_status_heartbeat_at", "status", "heartbeat_at"),
        # A tenant's listing (newest first) and its count of active experiments.
        Index("ix_experiments_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_experiments_tenant_id_status", "tenant_id", "status"),
        # An Idempotency-Key is the tenant's: another tenant's same key is another request.
        UniqueConstraint(
            "tenant_id", "idempotency_key", name="uq_experiments_tenant_id_idempotency_key"
        ),
    )

    @property
    def tag_names(self) -> list[str]:
        return [tag.tag for tag in self.tags]


class ExperimentTagRow(Base):
    """A tag of an experiment: a table, so that filtering by tag is one indexed join on any
    database (JSON containment differs between SQLite and PostgreSQL)."""

    __tablename__ = "experiment_tags"

    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)

    experiment: Mapped[ExperimentRow] = relationship(back_populates="tags")


class MetricPointRow(Base):
    """One value of one metric at one global step. The key is (experiment, name, step): a
    resumed run rewrites the points after its checkpoint, and they replace the old ones.

    A non-finite value is stored as NULL on SQLite (which turns NaN into NULL) and as NaN
    or ±Infinity on PostgreSQL; it is read back as null either way.
    """

    __tablename__ = "metric_points"

    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Double)


class CheckpointRow(Base):
    """A checkpoint file a worker wrote, indexed so the API can say what exists on disk."""

    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(1024))
    epoch: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    modified_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("experiment_id", "path"),)


class SweepStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class SweepRow(Base):
    """A sweep: a study over configurations x seeds, each member an experiment.

    ``spec`` is the sweep's definition (``core.sweeps.spec.SweepSpec``, defaults filled),
    updated when it is extended; ``rounds`` counts the sampling rounds so far (the
    creation, each extension, each top-up of an adaptive search): the sampler of round k
    is seeded from the sweep's ``sampler_seed`` and k, so the same sweep samples the same
    configurations. ``finished_at`` is set when its last member ends (and cleared when an
    extension adds members)."""

    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", name="fk_sweeps_tenant_id_tenants")
    )
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_sweeps_tenant_id_created_at", "tenant_id", "created_at"),
        UniqueConstraint(
            "tenant_id", "idempotency_key", name="uq_sweeps_tenant_id_idempotency_key"
        ),
    )


class SweepMemberRow(Base):
    """One member of a sweep: an experiment, the configuration it runs and its seed.

    ``config_key`` is the sha256 of the configuration's canonical JSON; (sweep,
    configuration, seed) is unique, so two processes topping a sweep up at once cannot add
    the same member twice. ``pruner_state`` is what the early-stopping rule keeps about the
    member between its decisions (Optuna's trial system attributes, e.g. the rungs it
    completed), so a decision never depends on a process's memory."""

    __tablename__ = "sweep_members"

    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    config_index: Mapped[int] = mapped_column(Integer)
    config_key: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]]
    seed: Mapped[int] = mapped_column(BigInteger)
    pruner_state: Mapped[dict[str, Any] | None]
    group_key: Mapped[str | None] = mapped_column(String(64), default=None)
    """Members with the same key train as one stacked model (None: alone)."""

    __table_args__ = (
        UniqueConstraint("sweep_id", "config_key", "seed", name="uq_sweep_members_config_seed"),
        Index("ix_sweep_members_sweep_id_group_key", "sweep_id", "group_key"),
    )
