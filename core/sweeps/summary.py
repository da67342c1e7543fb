"""Where a sweep stands, from its members' rows: counts per status, how many members it
plans, its progress and ETA, and the best configuration so far."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.store.models import FINISHED_STATUSES, ExperimentRow, ExperimentStatus, SweepMemberRow
from core.sweeps.scheduler import SeedResult, seed_results
from core.sweeps.space import grid
from core.sweeps.spec import SweepSpec


@dataclass(frozen=True)
class BestConfiguration:
    """The configuration whose succeeded seeds have the best median of the sweep metric;
    ``experiment_id`` and ``seed`` are its best member's."""

    params: dict[str, Any]
    value: float
    seeds: int
    experiment_id: str
    seed: int


@dataclass(frozen=True)
class SweepSummary:
    counts: dict[str, int]
    total: int
    planned: int
    """Members the sweep will have: a grid's configurations × seeds, a sampled search's
    max_members (rounded down to whole configurations), or ``total`` if larger."""
    fraction: float
    """The members' mean progress over ``planned`` (a finished member counts 1)."""
    eta_s: float | None
    """Seconds left at the pace since the sweep's first member started: elapsed ·
    (1 − fraction) / fraction (None before any progress). From the first start, not the
    sweep's creation, so a sweep that waited in the queue behind other work is not
    estimated at the pace of its wait."""
    best: BestConfiguration | None


def planned_members(spec: SweepSpec) -> int:
    seeds = len(spec.seed_list)
    if spec.method == "grid":
        return len(grid(spec)) * seeds
    return (spec.max_configurations or 0) * seeds


def best_configuration(
    spec: SweepSpec, rows: Sequence[tuple[SweepMemberRow, ExperimentRow]]
) -> BestConfiguration | None:
    by_key = seed_results(spec.metric.name, rows)
    if not by_key:
        return None
    sign = 1.0 if spec.metric.maximize else -1.0

    def median(entries: list[SeedResult]) -> float:
        return statistics.median(value for value, _m, _e in entries)

    key = max(sorted(by_key), key=lambda k: sign * median(by_key[k]))
    entries = by_key[key]
    _value, top_member, top_experiment = max(entries, key=lambda entry: sign * entry[0])
    return BestConfiguration(
        params=dict(top_member.params),
        value=median(entries),
        seeds=len(entries),
        experiment_id=top_experiment.id,
        seed=top_member.seed,
    )


def summarize(
    spec: SweepSpec,
    rows: Sequence[tuple[SweepMemberRow, ExperimentRow]],
    *,
    now: datetime,
) -> SweepSummary:
    counts = {status.value: 0 for status in ExperimentStatus}
    done = 0.0
    for _member, experiment in rows:
        counts[experiment.status] = counts.get(experiment.status, 0) + 1
        if experiment.status in FINISHED_STATUSES:
            done += 1.0
        else:
            done += experiment.fraction or 0.0
    total = len(rows)
    planned = max(planned_members(spec), total)
    fraction = done / planned if planned else 1.0
    first_start = min((e.started_at for _m, e in rows if e.started_at is not None), default=None)
    eta = None
    if first_start is not None and 0.0 < fraction < 1.0:
        eta = (now - first_start).total_seconds() * (1.0 - fraction) / fraction
    if fraction >= 1.0:
        eta = 0.0
    return SweepSummary(counts, total, planned, fraction, eta, best_configuration(spec, rows))
