"""What the API reads and writes: one schema family per resource.

``ExperimentCreate`` is what a client sends (the experiment spec itself);
``ExperimentPublic`` what it gets back; ``ExperimentsPublic`` a page of them. A run's
curves are ``api.metric_schemas``; a sweep's, ``api.sweep_schemas``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePath
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from core.presence import QueuePresence
from core.run_environment import RunEnvironment
from core.spec import ExperimentSpec
from core.spec.experiment import MAX_TAGS
from core.store.models import CheckpointRow, ExperimentRow
from core.text import MAX_NOTE_CHARS, NOTE_TEXT_RULE, PLAIN_TEXT_RULE

Status = Literal["queued", "running", "succeeded", "failed", "cancelled", "stopped"]
"""The values of ``core.store.models.ExperimentStatus``."""


class ExperimentCreate(ExperimentSpec):
    """An experiment to run: the spec (see GET /v1/catalog for every choice)."""


class ProgressPublic(BaseModel):
    epoch: int | None = Field(description="Epoch under way or last completed (1-based).")
    epochs: int | None = Field(description="Epochs in the run.")
    step: int | None = Field(description="Iterations completed.")
    total_steps: int | None = Field(description="Iterations in the run.")
    fraction: float | None = Field(description="step / total_steps, in [0, 1].")
    eta_s: float | None = Field(description="Seconds to go, from this worker's speed.")


class TimingsPublic(BaseModel):
    queued_at: datetime = Field(description="When the experiment was submitted (UTC).")
    started_at: datetime | None = Field(description="When a worker first started it.")
    finished_at: datetime | None = Field(description="When it ended, however it ended.")
    heartbeat_at: datetime | None = Field(description="Last sign of life of its worker.")


class CheckpointPublic(BaseModel):
    epoch: int | None
    name: str = Field(
        description="The file's name in the experiment's checkpoint folder (never a path "
        "of the server's)."
    )
    size_bytes: int
    modified_at: datetime


# --- a queued experiment with no worker to wait for ---


class NoWorkerPublic(BaseModel):
    queue: Literal["cpu", "gpu"] = Field(description="The queue no live worker consumes.")
    since: datetime = Field(
        description="Since when it has waited without one: when the queue lost its last "
        "worker, or when it was queued, whichever is later."
    )


def no_worker_of(
    row: ExperimentRow, presence: dict[str, QueuePresence] | None
) -> NoWorkerPublic | None:
    """``no_worker`` of a queued experiment whose queue has no live worker, else None
    (also when Redis cannot say)."""
    found = presence.get(row.queue) if presence is not None else None
    if row.status != "queued" or found is None or found.served:
        return None
    since = max(row.created_at, found.unserved_since or row.created_at)
    return NoWorkerPublic(queue=cast(Literal["cpu", "gpu"], row.queue), since=since)


class ExperimentPublic(BaseModel):
    id: str
    name: str
    tags: list[str]
    status: Status
    spec: ExperimentSpec
    queue: Literal["cpu", "gpu"]
    progress: ProgressPublic
    final_metrics: dict[str, float | None] | None = Field(
        description="The last completed epoch's metrics (null before the run ends)."
    )
    error: str | None = Field(description="Why it failed, or was requeued or cancelled.")
    stop_reason: str | None = Field(
        None,
        description="Why its sweep's early-stopping rule stopped it (status stopped); else null.",
    )
    timings: TimingsPublic
    worker: str | None = Field(description="The worker running (or that ran) it.")
    device: str | None = Field(description="The device it runs on, e.g. 'cpu', 'cuda:0'.")
    attempts: int = Field(
        description="How many times a worker started it (a clean hand-back gives its start back)."
    )
    resumed_from_epoch: int | None = Field(
        description="The epoch whose checkpoint the last run resumed from (0: the start)."
    )
    cancel_requested: bool
    environment: RunEnvironment | None = Field(
        None,
        description="The reproducibility record its worker filled in when the run started: "
        "versions, git commit, device, threads, seeds, determinism flags, data files' md5 "
        "(null until a worker starts it).",
    )
    checkpoints: list[CheckpointPublic] | None = Field(
        None, description="Checkpoint files on disk (only when reading one experiment)."
    )
    disk_bytes: int | None = Field(
        None,
        description="The bytes its folder holds on the server: checkpoints, weights and "
        "log (only when reading one experiment).",
    )
    no_worker: NoWorkerPublic | None = Field(
        None,
        description="Queued, and no live worker consumes its queue: which queue, since when. "
        "After ADAMLAB_NO_WORKER_TIMEOUT_S it is failed, saying so.",
    )
    note: str | None = Field(
        None,
        description="Free text its owner wrote (PATCH): lines, tabs allowed; null: none.",
    )

    @classmethod
    def from_row(
        cls,
        row: ExperimentRow,
        *,
        checkpoints: list[CheckpointRow] | None = None,
        disk_bytes: int | None = None,
        presence: dict[str, QueuePresence] | None = None,
    ) -> ExperimentPublic:
        return cls(
            no_worker=no_worker_of(row, presence),
            note=row.note,
            id=row.id,
            name=row.name,
            tags=row.tag_names,
            status=cast(Status, row.status),  # the column holds an ExperimentStatus value
            spec=ExperimentSpec.model_validate(row.spec),
            queue=cast(Literal["cpu", "gpu"], row.queue),  # the column holds a queue name
            progress=ProgressPublic(
                epoch=row.epoch,
                epochs=row.epochs,
                step=row.step,
                total_steps=row.total_steps,
                fraction=row.fraction,
                eta_s=row.eta_s,
            ),
            final_metrics=row.final_metrics,
            error=row.error,
            stop_reason=row.stop_reason,
            timings=TimingsPublic(
                queued_at=row.created_at,
                started_at=row.started_at,
                finished_at=row.finished_at,
                heartbeat_at=row.heartbeat_at,
            ),
            worker=row.worker,
            device=row.device,
            attempts=row.attempts,
            resumed_from_epoch=row.resumed_from_epoch,
            cancel_requested=row.cancel_requested,
            disk_bytes=disk_bytes,
            environment=None
            if row.environment is None
            else RunEnvironment.model_validate(row.environment),
            checkpoints=None
            if checkpoints is None
            else [
                CheckpointPublic(
                    epoch=checkpoint.epoch,
                    name=PurePath(checkpoint.path).name,
                    size_bytes=checkpoint.size_bytes,
                    modified_at=checkpoint.modified_at,
                )
                for checkpoint in checkpoints
            ],
        )


class ExperimentsPublic(BaseModel):
    data: list[ExperimentPublic]
    count: int = Field(description="Experiments matching the filters, over all pages.")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


# --- editing an experiment (PATCH) ---

NAME_REQUIRED = "an experiment always has a name: send a new one, or leave name out"


def _not_null(schema: dict[str, Any]) -> None:
    """The field's JSON schema without its null branch: null is refused (a 422)."""
    (kept,) = [branch for branch in schema.pop("anyOf") if branch.get("type") != "null"]
    schema.update(kept)


class ExperimentUpdate(BaseModel):
    """A JSON merge patch (RFC 7396) of an experiment: each field sent replaces the
    experiment's, a field left out stays as it is, and ``null`` removes the note (or the
    tags). Only these fields can change; anything else is a 422. The name and tags follow
    the spec's rules (``core.spec.experiment.ExperimentSpec``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: (
        Annotated[str, StringConstraints(min_length=1, max_length=200), PLAIN_TEXT_RULE] | None
    ) = Field(
        None,
        description="A new name: 1-200 characters, no control characters; never null.",
        json_schema_extra=_not_null,
    )
    tags: (
        list[Annotated[str, StringConstraints(min_length=1, max_length=64), PLAIN_TEXT_RULE]] | None
    ) = Field(
        None,
        max_length=MAX_TAGS,
        description=f"The new tags, replacing every old one: at most {MAX_TAGS}, each 1-64 "
        "characters without control characters, a repeat kept once; [] or null: none.",
    )
    note: Annotated[str, StringConstraints(max_length=MAX_NOTE_CHARS), NOTE_TEXT_RULE] | None = (
        Field(
            None,
            description=f"Free text, at most {MAX_NOTE_CHARS:,} characters: lines (LF) and "
            "tabs allowed, no other control character (CR neither); null removes it.",
        )
    )

    @field_validator("name", mode="after")
    @classmethod
    def _name_stays(cls, name: str | None) -> str:
        if name is None:  # only an explicit null reaches here (a default is not validated)
            raise ValueError(NAME_REQUIRED)
        return name


class RunLogPublic(BaseModel):
    experiment_id: str
    lines: list[str] = Field(description="The log's last lines, oldest first.")
    truncated: bool = Field(description="Whether older lines exist beyond these.")


class ComparedExperimentPublic(BaseModel):
    id: str
    name: str
    status: Status
    dataset: str
    model: str
    dropout: float = Field(description="The model's dropout rate (0: none).")
    optimizer: str
    lr: float = Field(description="The optimizer's base learning rate.")
    schedule: str
    epochs: int
    seed: int
    final_metrics: dict[str, float | None] | None
    error: str | None


class ComparisonPublic(BaseModel):
    experiments: list[ComparedExperimentPublic] = Field(description="In the order of ids.")
    metrics: list[str] = Field(description="The summary's metric columns.")
    best: dict[str, str] = Field(
        description="For each summary metric, the id of the run with the best final value "
        "(highest accuracy, lowest loss)."
    )
    table: str = Field(description="The summary as a Markdown table.")


class ParamPublic(BaseModel):
    name: str
    type: str = Field(description="JSON type, e.g. 'number', 'integer', 'array'.")
    required: bool
    default: Any = None
    description: str | None = None
    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None
    exclusive_maximum: float | None = None
    choices: list[Any] | None = None
    json_schema: dict[str, Any] = Field(description="The field's full JSON schema.")


class ComponentPublic(BaseModel):
    name: str = Field(description="The value of the component's 'name' field.")
    description: str
    params: list[ParamPublic]


class LimitPublic(BaseModel):
    """One limit on what a run may cost (core/cost_limits.py); beyond it a submission is 422."""

    name: str = Field(description="parameters, memory_bytes, steps or stored_points.")
    value: int = Field(description="The limit, in ``unit``.")
    unit: str
    setting: str = Field(description="The environment variable that sets it.")
    description: str


class CatalogPublic(BaseModel):
    datasets: list[ComponentPublic]
    models: list[ComponentPublic]
    optimizers: list[ComponentPublic]
    schedules: list[ComponentPublic]
    experiment: list[ParamPublic] = Field(description="The spec's own top-level fields.")
    limits: list[LimitPublic] = Field(
        default_factory=list[LimitPublic],
        description="What one run may cost: parameters, estimated memory, iterations and "
        "stored metric points, each with the setting that sets it.",
    )


class FieldErrorPublic(BaseModel):
    location: Literal["body", "query", "path", "header", "cookie"]
    field: str = Field(description="Dotted path of the field, e.g. 'optimizer.lr'.")
    message: str
    type: str = Field(description="pydantic's error type, e.g. 'greater_than'.")


class ValidationErrorPublic(BaseModel):
    detail: str
    errors: list[FieldErrorPublic]


class ErrorPublic(BaseModel):
    detail: str


class HealthPublic(BaseModel):
    status: Literal["ok", "ready", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)


class SessionCreate(BaseModel):
    """A dashboard sign-in: the API key, sent once in the body (never in a URL)."""

    model_config = ConfigDict(extra="forbid")

    api_key: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SessionPublic(BaseModel):
    """Who the dashboard acts for. ``csrf_token`` is what a request that changes something
    sends as ``X-CSRF-Token`` when it is signed in by the cookie; None when the request
    was not (keys disabled, or an Authorization header)."""

    tenant: str
    auth: Literal["required", "disabled"]
    signed_in_by: Literal["cookie", "key", "nothing"]
    csrf_token: str | None = None
    expires_at: datetime | None = None
