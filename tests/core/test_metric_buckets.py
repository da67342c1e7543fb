"""Min/max buckets of a curve (core/store/metric_buckets.py) on SQLite and on a real
PostgreSQL, against the same buckets computed in Python from the stored points: every
spike kept, both ends exact, a short curve whole, non-finite values never a min or max."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from core.metrics import MetricPoint
from core.spec import ExperimentSpec
from core.store.experiments import create_experiment
from core.store.metric_buckets import read_curve_buckets
from core.store.metrics import upsert_metric_points
from core.store.models import DEFAULT_TENANT_ID
from tests.factories import digits_body
from tests.support.store import Store


def new_experiment(db: Store) -> str:
    with db.session() as session:
        experiment, _ = create_experiment(
            session=session,
            tenant_id=DEFAULT_TENANT_ID,
            spec=ExperimentSpec.model_validate(digits_body(name="buckets")),
            queue="cpu",
        )
        return experiment.id


def reference(points: list[tuple[int, float | None]], buckets: int, lo: int, hi: int):
    """(first, last, min, max, mean, count) of each non-empty bucket, as the docstring says."""
    inside = [(step, value) for step, value in points if lo <= step <= hi]
    if not inside:
        return []
    first, last = inside[0][0], inside[-1][0]
    width = max(1, math.ceil((last - first + 1) / buckets))
    grouped: dict[int, list[tuple[int, float | None]]] = {}
    for step, value in inside:
        grouped.setdefault((step - first) // width, []).append((step, value))
    rows = []
    for key in sorted(grouped):
        group = grouped[key]
        finite = [v for _, v in group if v is not None and math.isfinite(v)]
        rows.append((group[0][0], group[-1][0], min(finite, default=None),
                     max(finite, default=None),
                     statistics.fmean(finite) if finite else None, len(group)))  # fmt: skip
    return rows


def as_rows(read):
    return list(zip(read.step_first, read.step_last, read.minimum, read.maximum, read.mean,
                    read.count, strict=True))  # fmt: skip


@pytest.mark.parametrize("buckets", [1, 7, 100, 5000])
def test_buckets_match_the_points_they_hold(store: Store, buckets: int) -> None:
    rng = random.Random(buckets)
    experiment_id = new_experiment(store)
    steps = sorted(rng.sample(range(1, 20_000), 3000))
    values: list[float | None] = [rng.gauss(0, 1) for _ in steps]
    values[10] = 50.0  # a spike
    values[20] = None
    values[30] = float("nan")
    values[40] = float("inf")
    pairs = list(zip(steps, values, strict=True))
    points = [MetricPoint("batch_loss", s, v, epoch=1 + s // 5000) for s, v in pairs]
    with store.session() as session:
        upsert_metric_points(session=session, experiment_id=experiment_id, points=points)
    stored = [(s, v if v is None or math.isfinite(v) else None) for s, v in pairs]
    for lo, hi in ((None, None), (500, 9000), (steps[10], steps[10]), (20_001, 30_000)):
        with store.session() as session:
            read = read_curve_buckets(session=session, experiment_id=experiment_id,
                                      name="batch_loss", buckets=buckets,
                                      step_min=lo, step_max=hi)  # fmt: skip
        expected = reference(stored, buckets, lo or 0, hi or 10**9)
        got = as_rows(read)
        assert len(got) == len(expected) <= buckets
        for row, want in zip(got, expected, strict=True):
            assert row[:2] == want[:2] and row[5] == want[5]
            assert row[2:5] == pytest.approx(want[2:5])
        assert read.total_points == sum(row[5] for row in expected)
        if lo is None and buckets < len(steps):
            assert max(m for m in read.maximum if m is not None) == 50.0  # the spike stays


def test_a_curve_shorter_than_the_buckets_comes_back_whole(store: Store) -> None:
    experiment_id = new_experiment(store)
    points = [MetricPoint("test_acc", step, step / 100, epoch=step) for step in (10, 20, 30)]
    with store.session() as session:
        upsert_metric_points(session=session, experiment_id=experiment_id, points=points)
        read = read_curve_buckets(
            session=session, experiment_id=experiment_id, name="test_acc", buckets=1000
        )
    assert read.step_first == read.step_last == [10, 20, 30]
    assert read.minimum == read.maximum == read.mean == pytest.approx([0.1, 0.2, 0.3])
    assert read.epoch == [10, 20, 30] and read.width == 1
