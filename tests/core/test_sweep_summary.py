"""A sweep's progress and ETA from its members' rows (``core.sweeps.summary``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.store.models import ExperimentRow, SweepMemberRow
from core.sweeps.spec import SweepSpec
from core.sweeps.summary import summarize
from tests.factories import sweep_body

CREATED = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)


def member(
    index: int, status: str, *, started_s: float | None = None, fraction: float | None = None
) -> tuple[SweepMemberRow, ExperimentRow]:
    experiment = ExperimentRow(
        id=f"e{index}",
        status=status,
        created_at=CREATED,
        started_at=None if started_s is None else CREATED + timedelta(seconds=started_s),
        fraction=fraction,
        final_metrics={"test_acc": 0.5} if status == "succeeded" else None,
    )
    row = SweepMemberRow(
        experiment_id=f"e{index}",
        sweep_id="s",
        config_index=index // 2,
        config_key=f"c{index // 2}",
        params={"optimizer.lr": 0.01},
        seed=index % 2,
    )
    return row, experiment


def test_the_eta_runs_at_the_pace_since_the_first_member_started_not_since_creation() -> None:
    # 8 planned members; the sweep waited 600 s in the queue, then in 100 s of training
    # one member finished and one is half done: 1.5 of 8 in 100 s, 6.5 to go.
    spec = SweepSpec.model_validate(sweep_body())
    rows = [
        member(0, "succeeded", started_s=600),
        member(1, "running", started_s=650, fraction=0.5),
        *(member(i, "queued") for i in range(2, 8)),
    ]
    summary = summarize(spec, rows, now=CREATED + timedelta(seconds=700))
    assert summary.planned == 8
    assert summary.fraction == pytest.approx(1.5 / 8)
    assert summary.eta_s == pytest.approx(100 * 6.5 / 1.5)  # not 700 · 6.5 / 1.5


def test_no_eta_before_a_member_starts_and_zero_at_the_end() -> None:
    spec = SweepSpec.model_validate(sweep_body())
    queued = [member(i, "queued") for i in range(8)]
    assert summarize(spec, queued, now=CREATED + timedelta(seconds=60)).eta_s is None
    finished = [member(i, "succeeded", started_s=10) for i in range(8)]
    assert summarize(spec, finished, now=CREATED + timedelta(seconds=60)).eta_s == 0.0
