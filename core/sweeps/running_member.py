"""What a running member asks of its sweep: which sweep it belongs to (read once when
its run starts), which members train in one stack with it, and whether it stops after an
epoch by its sweep's early-stopping rule (``core.sweeps.early_stopping`` decides; the
state the rule keeps per member is written back in the same transaction)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.store import sweeps as store
from core.sweeps.early_stopping import MemberTrace, decide
from core.sweeps.scheduler import definition_of


@dataclass(frozen=True)
class Membership:
    """An experiment's sweep and whether that sweep stops members early (a rule is part of
    the definition, which an extension does not change)."""

    sweep_id: str
    stops_early: bool
    group_key: str | None = None
    """The member's group (``core/sweeps/grouping.py``); None: it trains alone."""


def membership(*, session: Session, experiment_id: str) -> Membership | None:
    """The experiment's sweep, read once when its run starts; None for an experiment of its
    own, whose epochs then ask nothing of the store."""
    member = store.member_of(session=session, experiment_id=experiment_id)
    sweep = (
        None
        if member is None
        else store.get_sweep(session=session, sweep_id=member.sweep_id, tenant_id=None)
    )
    session.commit()
    if sweep is None:
        return None
    assert member is not None
    return Membership(
        sweep.id, definition_of(sweep).early_stopping.method != "none", member.group_key
    )


def group_mates(*, session: Session, experiment_id: str) -> list[str]:
    """The unfinished members that train in one stack with this one (none when it trains
    alone); the worker claims them with it."""
    member = store.member_of(session=session, experiment_id=experiment_id)
    mates = [] if member is None else store.group_mates(session=session, member=member)
    session.commit()
    return mates


def early_stop_reason(
    *, session: Session, experiment_id: str, epoch: int, metrics: dict[str, float]
) -> str | None:
    """Whether a sweep member stops after ``epoch`` (its metrics ``metrics``), by its
    sweep's early-stopping rule; the reason when it does, None when it goes on (or is not
    a member of a sweep with a rule). Keeps what the rule needs of the member."""
    member = store.member_of(session=session, experiment_id=experiment_id)
    if member is None:
        session.commit()
        return None
    sweep = store.get_sweep(session=session, sweep_id=member.sweep_id, tenant_id=None)
    if sweep is None:
        session.commit()
        return None
    spec = definition_of(sweep)
    if spec.early_stopping.method == "none" or spec.metric.name not in metrics:
        session.commit()
        return None
    values = store.metric_values(session=session, sweep_id=sweep.id, metric=spec.metric.name)
    mine = {e: v for e, v in values.get(experiment_id, {}).items() if e <= epoch}
    mine[epoch] = metrics[spec.metric.name]
    others = [
        MemberTrace(
            other.experiment_id,
            experiment.status,
            values.get(other.experiment_id, {}),
            other.pruner_state or {},
        )
        for other, experiment in store.members(session=session, sweep_id=sweep.id)
        if other.experiment_id != experiment_id
    ]
    decision = decide(
        spec.early_stopping,
        metric=spec.metric.name,
        maximize=spec.metric.maximize,
        current=MemberTrace(experiment_id, "running", mine, member.pruner_state or {}),
        others=others,
    )
    store.keep_pruner_state(
        session=session, experiment_id=experiment_id, state=decision.pruner_state
    )
    return decision.reason if decision.stop else None
