"""The one typed settings object of a process, read from the environment.

Every setting is an environment variable, named as the field's alias: ``DATABASE_URL``
and ``REDIS_URL`` for the two servers (the names every platform uses), ``ADAMLAB_*`` for
the rest. A bad value stops the process at start-up with a pydantic error whose location
is the variable's name. Import the instance: ``from core.settings import settings``.

Left unset, ``DATABASE_URL`` means a SQLite file in ``ADAMLAB_STATE_DIR``; ``REDIS_URL``
has no default: ``adamlab serve`` starts a private Redis and sets it for its children,
and any other process (``adamlab worker``, the API under its own uvicorn) must be told.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

POSTGRES_DRIVER_URL_PREFIX = "postgresql+psycopg://"
"""SQLAlchemy URL prefix of PostgreSQL through psycopg 3, the driver this project installs."""

_POSTGRES_URL_PREFIXES = ("postgres://", "postgresql://", POSTGRES_DRIVER_URL_PREFIX)
_REDIS_URL_PREFIXES = ("redis://", "rediss://")


def _env(name: str) -> AliasChoices:
    """The variable a field is read from; also accepted as a keyword argument."""
    return AliasChoices(name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    state_dir: Path = Field(
        default=Path("var"),
        validation_alias=_env("ADAMLAB_STATE_DIR"),
        description="ADAMLAB_STATE_DIR: where the embedded default keeps its SQLite store, "
        "its private Redis, and where workers keep checkpoints (checkpoints/<experiment id>/).",
    )
    data_dir: Path = Field(
        default=Path("var/datasets"),
        validation_alias=_env("ADAMLAB_DATA_DIR"),
        description="ADAMLAB_DATA_DIR: folder holding mnist/ and fashion-mnist/ (gzip IDX "
        "files); downloaded there when missing and the network allows.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=_env("DATABASE_URL"),
        description="DATABASE_URL: the store, sqlite:///path or postgresql://user@host/db; "
        "default a SQLite file in ADAMLAB_STATE_DIR.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=_env("REDIS_URL"),
        description="REDIS_URL: Celery's broker, redis://host:port/db; no default (the "
        "embedded default starts a private one and sets it).",
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        validation_alias=_env("ADAMLAB_MAX_BODY_BYTES"),
        description="ADAMLAB_MAX_BODY_BYTES: largest request body the API reads; beyond it "
        "the answer is 413. Default 65536.",
    )
    max_curve_points: int = Field(
        default=200_000,
        ge=100,
        validation_alias=_env("ADAMLAB_MAX_CURVE_POINTS"),
        description="ADAMLAB_MAX_CURVE_POINTS: most points one curve read returns without "
        "max_points; beyond it the client must downsample or page. Default 200000.",
    )
    heartbeat_interval_s: float = Field(
        default=0.5,
        gt=0.0,
        le=60.0,
        validation_alias=_env("ADAMLAB_HEARTBEAT_INTERVAL_S"),
        description="ADAMLAB_HEARTBEAT_INTERVAL_S: how often a running job writes its "
        "heartbeat and progress and reads its cancellation flag; default 0.5.",
    )
    heartbeat_timeout_s: float = Field(
        default=30.0,
        gt=0.0,
        validation_alias=_env("ADAMLAB_HEARTBEAT_TIMEOUT_S"),
        description="ADAMLAB_HEARTBEAT_TIMEOUT_S: a running job whose heartbeat is older "
        "than this has lost its worker and is requeued (or failed); default 30.",
    )
    reaper_interval_s: float = Field(
        default=5.0,
        gt=0.0,
        le=3600.0,
        validation_alias=_env("ADAMLAB_REAPER_INTERVAL_S"),
        description="ADAMLAB_REAPER_INTERVAL_S: how often the API looks for jobs whose "
        "worker vanished; default 5.",
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        validation_alias=_env("ADAMLAB_MAX_ATTEMPTS"),
        description="ADAMLAB_MAX_ATTEMPTS: how many workers may start a job before it is "
        "marked failed; default 3.",
    )
    metric_batch_size: int = Field(
        default=500,
        ge=1,
        le=100_000,
        validation_alias=_env("ADAMLAB_METRIC_BATCH_SIZE"),
        description="ADAMLAB_METRIC_BATCH_SIZE: a worker writes its buffered metric points "
        "when this many wait; default 500.",
    )
    metric_flush_interval_s: float = Field(
        default=1.0,
        gt=0.0,
        le=600.0,
        validation_alias=_env("ADAMLAB_METRIC_FLUSH_INTERVAL_S"),
        description="ADAMLAB_METRIC_FLUSH_INTERVAL_S: ... or when the oldest has waited "
        "this long, so curves grow while a job runs; default 1.0.",
    )
    broker_visibility_timeout_s: int = Field(
        default=12 * 3600,
        ge=60,
        validation_alias=_env("ADAMLAB_BROKER_VISIBILITY_TIMEOUT_S"),
        description="ADAMLAB_BROKER_VISIBILITY_TIMEOUT_S: Redis gives an unacknowledged "
        "message to another worker after this long. Kept long (default 43200): lost "
        "workers are detected by heartbeats instead, see docs/api.md.",
    )
    torch_threads: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        validation_alias=_env("ADAMLAB_TORCH_THREADS"),
        description="ADAMLAB_TORCH_THREADS: intra-op CPU threads of each worker process; "
        "default torch's own (one per core). Small models on a shared or busy machine run "
        "many times faster with 1.",
    )
    auth: Literal["required", "disabled"] = Field(
        default="required",
        validation_alias=_env("ADAMLAB_AUTH"),
        description="ADAMLAB_AUTH: 'required' (default): every /v1 request needs an API key, "
        "sent as 'Authorization: Bearer <key>' (adamlab keys create); 'disabled': no key, "
        "every request acts as the default tenant, and the API answers only connections "
        "that arrive on a loopback address. adamlab serve chooses when it is unset.",
    )
    max_active_per_tenant: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        validation_alias=_env("ADAMLAB_MAX_ACTIVE_PER_TENANT"),
        description="ADAMLAB_MAX_ACTIVE_PER_TENANT: most experiments one tenant may have "
        "queued or running; a submission beyond it is 429 with Retry-After. Unset: no cap.",
    )
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        validation_alias=_env("PROMETHEUS_MULTIPROC_DIR"),
        description="PROMETHEUS_MULTIPROC_DIR: an empty directory shared by the API's "
        "processes (uvicorn --workers N), where prometheus_client keeps each process's "
        "request latencies so that GET /metrics reports all of them. Unset: one process.",
    )
    auto_device_queue: Literal["cpu", "gpu"] = Field(
        default="cpu",
        validation_alias=_env("ADAMLAB_AUTO_DEVICE_QUEUE"),
        description="ADAMLAB_AUTO_DEVICE_QUEUE: the queue of specs with device 'auto'; "
        "default 'cpu'. Set 'gpu' where GPU workers run.",
    )
    # Input hardening: no statement of the store outlives this (docs/api.md).
    statement_timeout_s: float = Field(
        default=30.0,
        ge=0.1,
        le=3600.0,
        validation_alias=_env("ADAMLAB_STATEMENT_TIMEOUT_S"),
        description="ADAMLAB_STATEMENT_TIMEOUT_S: longest one statement of the store may run "
        "(PostgreSQL's statement_timeout on every connection of the API and the workers; "
        "on SQLite a progress handler); a request whose statement is stopped answers 503. "
        "Migrations run without it. Default 30.",
    )

    # --- store outages and the HTTP server's limits (docs/api.md, "Outages and slow clients")
    store_outage_retry_s: float = Field(
        default=300.0,
        ge=0.0,
        le=86_400.0,
        validation_alias=_env("ADAMLAB_STORE_OUTAGE_RETRY_S"),
        description="ADAMLAB_STORE_OUTAGE_RETRY_S: how long a worker keeps retrying a write "
        "(metric points, the end of a run) while the store is unreachable, before the run "
        "fails over to the reaper; default 300.",
    )
    http_header_timeout_s: float = Field(
        default=10.0,
        gt=0.0,
        le=3600.0,
        validation_alias=_env("ADAMLAB_HTTP_HEADER_TIMEOUT_S"),
        description="ADAMLAB_HTTP_HEADER_TIMEOUT_S: a connection whose request line and "
        "headers are not complete this long after it opened (or after its first byte, on a "
        "kept-alive connection) is answered 408 and closed; default 10.",
    )
    http_body_timeout_s: float = Field(
        default=30.0,
        gt=0.0,
        le=3600.0,
        validation_alias=_env("ADAMLAB_HTTP_BODY_TIMEOUT_S"),
        description="ADAMLAB_HTTP_BODY_TIMEOUT_S: a request whose body is not complete this "
        "long after its headers is answered 408 and closed; default 30.",
    )
    http_max_connections: int = Field(
        default=2048,
        ge=1,
        le=1_000_000,
        validation_alias=_env("ADAMLAB_HTTP_MAX_CONNECTIONS"),
        description="ADAMLAB_HTTP_MAX_CONNECTIONS: open connections (and running requests) "
        "one API process serves; a request beyond it is answered 503 at once; default 2048.",
    )

    # --- live events (docs/api.md, "Live events")
    events_ping_s: float = Field(
        default=15.0,
        gt=0.0,
        le=3600.0,
        validation_alias=_env("ADAMLAB_EVENTS_PING_S"),
        description="ADAMLAB_EVENTS_PING_S: an open event stream (/events) sends a comment "
        "line this often, so that proxies keep it open; default 15.",
    )
    events_max_pending: int = Field(
        default=10_000,
        ge=10,
        le=10_000_000,
        validation_alias=_env("ADAMLAB_EVENTS_MAX_PENDING"),
        description="ADAMLAB_EVENTS_MAX_PENDING: live events one stream may have waiting for "
        "a client that does not read; beyond it the stream ends and the client's "
        "reconnection resumes from the store. Default 10000.",
    )

    # --- what one run may cost (core/cost_limits.py): beyond a limit, a submission is 422 ---
    max_parameters: int = Field(
        default=100_000_000,
        ge=1,
        validation_alias=_env("ADAMLAB_MAX_PARAMETERS"),
        description="ADAMLAB_MAX_PARAMETERS: most parameters a spec's model may have; "
        "default 100000000 (1.6 GB of weights, gradients and Adam's moments, a 1.2 GB "
        "checkpoint each epoch).",
    )
    max_run_memory_bytes: int = Field(
        default=16 * 2**30,
        ge=1,
        validation_alias=_env("ADAMLAB_MAX_RUN_MEMORY_BYTES"),
        description="ADAMLAB_MAX_RUN_MEMORY_BYTES: most memory a run's estimate (weights, "
        "gradients, optimizer state, activations, data) may reach; default 17179869184 "
        "(16 GiB: a 24 GiB machine, with room for what the estimate leaves out).",
    )
    max_steps: int = Field(
        default=1_000_000,
        ge=1,
        validation_alias=_env("ADAMLAB_MAX_STEPS"),
        description="ADAMLAB_MAX_STEPS: most iterations a run may take (epochs × batches "
        "per epoch); default 1000000.",
    )
    max_stored_points: int = Field(
        default=2_000_000,
        ge=1,
        validation_alias=_env("ADAMLAB_MAX_STORED_POINTS"),
        description="ADAMLAB_MAX_STORED_POINTS: most metric points a run may write to the "
        "store (2 per iteration, 6 to 8 per epoch); default 2000000.",
    )

    # --- a queue without a worker ---
    no_worker_timeout_s: float = Field(
        default=600.0,
        ge=0.0,
        le=30 * 24 * 3600.0,
        validation_alias=_env("ADAMLAB_NO_WORKER_TIMEOUT_S"),
        description="ADAMLAB_NO_WORKER_TIMEOUT_S: a queued experiment whose queue has had no "
        "live worker for this long is failed, with the queue named (0: never; it still shows "
        "no_worker); default 600.",
    )

    @field_validator("state_dir", "data_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        # Absolute, so the processes a command starts agree on it whatever their cwd.
        return path.expanduser().absolute()

    @field_validator("prometheus_multiproc_dir", mode="before")
    @classmethod
    def _writable_directory(cls, value: str | Path | None) -> Path | None:
        if value is None or str(value) == "":
            return None
        path = Path(value).expanduser()
        if not path.is_dir() or not os.access(path, os.W_OK):
            raise ValueError(
                f"PROMETHEUS_MULTIPROC_DIR must be an existing writable directory (got {path})"
            )
        return path.absolute()

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str | None) -> str | None:
        if url is None or url == "":
            return None
        if url.startswith("sqlite:///"):
            return url
        for prefix in _POSTGRES_URL_PREFIXES:
            if url.startswith(prefix):
                return POSTGRES_DRIVER_URL_PREFIX + url.removeprefix(prefix)
        raise ValueError(
            "DATABASE_URL must start with sqlite:/// or postgresql:// "
            f"(got {url.split('://')[0]!r}://...)"
        )

    @field_validator("redis_url")
    @classmethod
    def _known_broker(cls, url: str | None) -> str | None:
        if url is None or url == "":
            return None
        if not url.startswith(_REDIS_URL_PREFIXES):
            raise ValueError(
                f"REDIS_URL must start with redis:// or rediss:// (got {url.split('://')[0]!r})"
            )
        return url

    @model_validator(mode="after")
    def _heartbeats_fit_in_timeout(self) -> Settings:
        if self.heartbeat_timeout_s < 3 * self.heartbeat_interval_s:
            raise ValueError(
                f"ADAMLAB_HEARTBEAT_TIMEOUT_S ({self.heartbeat_timeout_s}) must be at least 3 "
                f"times ADAMLAB_HEARTBEAT_INTERVAL_S ({self.heartbeat_interval_s}), or a busy "
                "but healthy worker would be taken for lost"
            )
        return self

    @property
    def store_url(self) -> str:
        """The SQLAlchemy URL of the store: DATABASE_URL, else SQLite in the state dir."""
        return self.database_url or f"sqlite:///{self.state_dir / 'adamlab.db'}"

    @property
    def checkpoints_dir(self) -> Path:
        """Parent of the per-experiment checkpoint folders."""
        return self.state_dir / "checkpoints"

    def checkpoint_dir(self, experiment_id: str) -> Path:
        """Where the checkpoints of one experiment live, whichever worker runs it."""
        return self.checkpoints_dir / experiment_id


settings = Settings()
