"""The report's inputs from the store: one ``MemberResult`` per member, from its rows, its
spec and its stored points (the sweep metric and ``epoch_time_s``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.metrics import MetricSeries
from core.spec import ExperimentSpec
from core.store import sweeps as store
from core.store.models import SweepRow
from core.sweeps.report import MemberResult, SweepReport, build_report
from core.sweeps.scheduler import definition_of

EPOCH_SECONDS = "epoch_time_s"


def sweep_report(*, session: Session, sweep: SweepRow, target: float | None) -> SweepReport:
    """The sweep's report, from its members' stored metrics as they are now."""
    spec = definition_of(sweep)
    metric = spec.metric.name
    rows = store.members(session=session, sweep_id=sweep.id)
    series = store.member_series(session=session, sweep_id=sweep.id, names=[metric, EPOCH_SECONDS])
    results: list[MemberResult] = []
    for member, experiment in rows:
        member_spec = ExperimentSpec.model_validate(experiment.spec)
        curves = series.get(experiment.id, {})
        empty = MetricSeries(steps=[], epochs=[], values=[])
        results.append(
            MemberResult(
                experiment_id=experiment.id,
                config_key=member.config_key,
                params=dict(member.params),
                seed=member.seed,
                status=experiment.status,
                stop_reason=experiment.stop_reason,
                optimizer=member_spec.optimizer.name,
                lr=member_spec.optimizer.lr,
                task=f"{member_spec.dataset.name}/{member_spec.model.name}",
                batch_size=member_spec.dataset.batch_size,
                train_examples=member_spec.dataset.train_examples(),
                curve=curves.get(metric, empty),
                epoch_seconds=curves.get(EPOCH_SECONDS),
            )
        )
    goal = "maximize" if spec.metric.maximize else "minimize"
    return build_report(results, metric=metric, goal=goal, target=target)
