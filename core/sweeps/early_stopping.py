"""Early stopping: whether a member goes on after an epoch, by Optuna's pruners.

After each epoch a sweep member's worker asks ``decide`` with the sweep metric's value per
epoch of every member so far. The decision is Optuna's: ``asha`` is
``SuccessiveHalvingPruner(min_resource=min_epochs, reduction_factor=r)`` (a member that
reaches epoch min_epochs·r^k goes on only while its value is among the best 1/r of those
that reached that epoch before it, the first to arrive always going on: asynchronous
successive halving), ``median`` is ``MedianPruner(n_startup_trials=min_members,
n_warmup_steps=min_epochs - 1)`` (it stops a member whose value is worse than the median of
the finished members' at the same epoch). An epoch is Optuna's step.

The study is rebuilt from the store for each decision: finished members as complete trials
(their last value), stopped ones as pruned, the others as running, each with what the
pruner kept about it (``pruner_state``: the rungs of ASHA it passed), which the decision
returns updated for the store.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState, create_trial

from core.sweeps.spec import AshaEarlyStopping, MedianEarlyStopping, NoEarlyStopping

optuna.logging.set_verbosity(optuna.logging.ERROR)

EarlyStoppingRule = NoEarlyStopping | AshaEarlyStopping | MedianEarlyStopping


@dataclass(frozen=True)
class MemberTrace:
    """What early stopping knows of a member: its status, the sweep metric after each
    epoch so far and the pruner's state of it."""

    experiment_id: str
    status: str
    values: Mapping[int, float]
    pruner_state: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    reason: str | None
    pruner_state: dict[str, Any]


_STATES = {"succeeded": TrialState.COMPLETE, "stopped": TrialState.PRUNED}


def _pruner(rule: AshaEarlyStopping | MedianEarlyStopping) -> optuna.pruners.BasePruner:
    if isinstance(rule, AshaEarlyStopping):
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=rule.min_epochs, reduction_factor=rule.reduction_factor
        )
    return optuna.pruners.MedianPruner(
        n_startup_trials=rule.min_members, n_warmup_steps=rule.min_epochs - 1
    )


def _trial(trace: MemberTrace) -> optuna.trial.FrozenTrial | None:
    values = {epoch: value for epoch, value in trace.values.items()}
    state = _STATES.get(trace.status, TrialState.RUNNING)
    if trace.status in ("failed", "cancelled"):
        return None
    if state == TrialState.COMPLETE:
        if not values:
            return None
        return create_trial(
            value=values[max(values)], intermediate_values=values,
            system_attrs=dict(trace.pruner_state),
        )  # fmt: skip
    return create_trial(
        state=state, intermediate_values=values, system_attrs=dict(trace.pruner_state)
    )


def decide(
    rule: EarlyStoppingRule,
    *,
    metric: str,
    maximize: bool,
    current: MemberTrace,
    others: Sequence[MemberTrace],
) -> StopDecision:
    """Whether ``current`` stops after its last epoch, why, and its new pruner state."""
    if isinstance(rule, NoEarlyStopping) or not current.values:
        return StopDecision(False, None, dict(current.pruner_state))
    study = optuna.create_study(
        direction="maximize" if maximize else "minimize", pruner=_pruner(rule)
    )
    for other in others:
        trial = _trial(other)
        if trial is not None:
            study.add_trial(trial)
    study.add_trial(
        create_trial(
            state=TrialState.RUNNING,
            intermediate_values=dict(current.values),
            system_attrs=dict(current.pruner_state),
        )
    )
    frozen = study.get_trials(deepcopy=False)[-1]
    stop = bool(study.pruner.prune(study, frozen))
    state = dict(study.get_trials(deepcopy=False)[-1].system_attrs)
    reason = _reason(rule, metric, maximize, current, others, state) if stop else None
    return StopDecision(stop, reason, state)


def _reason(
    rule: AshaEarlyStopping | MedianEarlyStopping,
    metric: str,
    maximize: bool,
    current: MemberTrace,
    others: Sequence[MemberTrace],
    state: Mapping[str, Any],
) -> str:
    epoch = max(current.values)
    value = current.values[epoch]
    if isinstance(rule, AshaEarlyStopping):
        rungs = sorted(
            int(key.rsplit("_", 1)[1]) for key in state if key.startswith("completed_rung_")
        )
        rung = rungs[-1] if rungs else 0
        key = f"completed_rung_{rung}"
        competing = [float(o.pruner_state[key]) for o in others if key in o.pruner_state]
        competing.append(float(value))
        competing.sort(reverse=maximize)
        kept = max(1, len(competing) // rule.reduction_factor)
        cutoff = competing[kept - 1]
        rung_epoch = rule.min_epochs * rule.reduction_factor**rung
        return (
            f"asha: {metric} {value:.4g} at epoch {rung_epoch} was not among the best "
            f"1/{rule.reduction_factor} ({kept} of {len(competing)}) of the members that "
            f"reached epoch {rung_epoch} (cut-off {cutoff:.4g})"
        )
    finished = [o.values[epoch] for o in others if o.status == "succeeded" and epoch in o.values]
    median = statistics.median(finished) if finished else float("nan")
    return (
        f"median: {metric} {value:.4g} at epoch {epoch} was worse than the median {median:.4g} "
        f"of the {len(finished)} finished members at that epoch"
    )
