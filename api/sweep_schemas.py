"""The sweep resource's schemas: ``SweepCreate`` (what a client sends), ``SweepPublic`` (what
it gets back), ``SweepsPublic`` (a page), ``SweepExtend`` (an extension)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, Field

from core.store.models import SweepRow
from core.sweeps.spec import Method, SweepExtension, SweepSpec
from core.sweeps.summary import SweepSummary


class SweepCreate(SweepSpec):
    """A sweep as a client sends it (``core.sweeps.spec`` has an example)."""


class SweepExtend(SweepExtension):
    """An extension as a client sends it: any of seeds, parameters, max_members."""


class SweepMetricPublic(BaseModel):
    name: str
    goal: Literal["maximize", "minimize"]


class SweepMembersPublic(BaseModel):
    total: int = Field(description="Members the sweep has now.")
    planned: int = Field(description="Members it will have when its search is done.")
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    stopped: int = Field(description="Stopped early by the sweep's early-stopping rule.")


class SweepProgressPublic(BaseModel):
    fraction: float = Field(description="Mean progress of the planned members, 0 to 1.")
    eta_s: float | None = Field(
        description="Seconds left at the pace since the first member started; null before then."
    )


class BestPublic(BaseModel):
    params: dict[str, Any] = Field(description="The configuration's swept values.")
    value: float = Field(description="The median of its succeeded seeds' final metric.")
    seeds: int = Field(description="How many of its seeds succeeded.")
    experiment_id: str = Field(description="Its best member.")
    seed: int = Field(description="Its best member's seed.")


class SweepPublic(BaseModel):
    id: str
    name: str
    status: Literal["running", "finished", "cancelled"]
    method: Method
    metric: SweepMetricPublic
    created_at: datetime
    finished_at: datetime | None
    members: SweepMembersPublic
    progress: SweepProgressPublic
    best: BestPublic | None = Field(description="The best configuration so far (null: none yet).")
    spec: SweepSpec = Field(description="The sweep's definition, defaults filled in.")
    added: int | None = Field(None, description="Members an extension added (extend only).")

    @classmethod
    def from_row(
        cls, row: SweepRow, spec: SweepSpec, summary: SweepSummary, *, added: int | None = None
    ) -> SweepPublic:
        counts = summary.counts
        return cls(
            id=row.id,
            name=row.name,
            status=cast(Literal["running", "finished", "cancelled"], row.status),
            method=spec.method,
            metric=SweepMetricPublic(
                name=spec.metric.name, goal="maximize" if spec.metric.maximize else "minimize"
            ),
            created_at=row.created_at,
            finished_at=row.finished_at,
            members=SweepMembersPublic(
                total=summary.total,
                planned=summary.planned,
                queued=counts.get("queued", 0),
                running=counts.get("running", 0),
                succeeded=counts.get("succeeded", 0),
                failed=counts.get("failed", 0),
                cancelled=counts.get("cancelled", 0),
                stopped=counts.get("stopped", 0),
            ),
            progress=SweepProgressPublic(fraction=summary.fraction, eta_s=summary.eta_s),
            best=None
            if summary.best is None
            else BestPublic(
                params=summary.best.params,
                value=summary.best.value,
                seeds=summary.best.seeds,
                experiment_id=summary.best.experiment_id,
                seed=summary.best.seed,
            ),
            spec=spec,
            added=added,
        )


class SweepsPublic(BaseModel):
    data: list[SweepPublic]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")
