"""A sweep's life: create it, extend it, top up an adaptive search, cancel and finish
it (what a running member asks of its sweep, such as whether it stops early, is
``core.sweeps.running_member``). Each step reads the sweep from the store, decides with
``core.sweeps.space`` and ``sampling``, and writes the result in one
transaction; the members it adds are dispatched to the queue after that commit, as a
submitted experiment is. Nothing lives in a process between steps, so any API process or
worker can take the next one.

Who takes which step: the API creates, extends and cancels; a member's worker asks for the
early-stopping decision after each epoch and tends the sweep when the member ends (an
adaptive search samples the next configurations, a sweep with nothing left to run is
finished); the API's reaper tends every running sweep as well, so a worker killed between
a member's end and its tending delays the next step by one reaper interval at most.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.orm import Session

from core.cost_limits import CostLimits
from core.store import sweeps as store
from core.store.cancel import cancel_sweep_members
from core.store.models import ExperimentRow, SweepMemberRow, SweepRow, SweepStatus
from core.sweeps.grouping import group_keys
from core.sweeps.sampling import KnownConfiguration, sample_configurations
from core.sweeps.space import (
    Configuration,
    FieldProblem,
    SweepDefinitionError,
    base_dict,
    config_key,
    definition_problems,
    grid,
    member_problems,
    member_spec,
)
from core.sweeps.spec import SweepExtension, SweepSpec

logger = logging.getLogger(__name__)

Dispatch = Callable[[str, str], None]
"""Queues a job: (experiment id, queue name)."""
QueueFor = Callable[[Literal["auto", "cpu", "cuda"]], str]
"""The queue of a requested device ("auto", "cpu", "cuda")."""

Members = Sequence[tuple[SweepMemberRow, ExperimentRow]]


def stored_definition(spec: SweepSpec) -> dict[str, Any]:
    """What the store keeps of a definition: the fields the client set, so that a member's
    base is the base as written (see ``core.sweeps.space.base_dict``)."""
    return spec.model_dump(mode="json", exclude_unset=True)


def definition_of(sweep: SweepRow) -> SweepSpec:
    return SweepSpec.model_validate(sweep.spec)


# --- planning members ---------------------------------------------------------------------


def final_value(experiment: ExperimentRow, metric: str) -> float | None:
    """A member's result: its final metric, for a member that succeeded."""
    if experiment.status != "succeeded" or not experiment.final_metrics:
        return None
    value = experiment.final_metrics.get(metric)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


SeedResult = tuple[float, SweepMemberRow, ExperimentRow]


def seed_results(metric: str, rows: Members) -> dict[str, list[SeedResult]]:
    """The succeeded members' results, by configuration key: (final metric, member, its
    experiment) for each seed that has one, in the rows' order."""
    by_key: dict[str, list[SeedResult]] = {}
    for member, experiment in rows:
        value = final_value(experiment, metric)
        if value is not None:
            by_key.setdefault(member.config_key, []).append((value, member, experiment))
    return by_key


def _known(spec: SweepSpec, existing: Members) -> list[KnownConfiguration]:
    """Each configuration the sweep has, with the median of its seeds' results."""
    results = seed_results(spec.metric.name, existing)
    configs = {member.config_key: dict(member.params) for member, _ in existing}
    return [
        KnownConfiguration(
            config,
            statistics.median(v for v, _m, _e in results[key]) if key in results else None,
        )
        for key, config in configs.items()
    ]


@dataclass(frozen=True)
class Plan:
    members: list[store.NewMember]
    configurations: list[Configuration]
    """The configurations new to the sweep."""


def plan_members(
    spec: SweepSpec, *, existing: Members, round_index: int, new_configurations: int | None
) -> Plan:
    """The members a sweep lacks: every (configuration, seed) of its configurations that is
    not a member yet, with, for a sampled search, up to ``new_configurations`` newly
    sampled configurations (None: up to ``max_members``)."""
    seeds = spec.seed_list
    have_pairs = {(m.config_key, m.seed) for m, _ in existing}
    configs: dict[str, tuple[int, Configuration]] = {}
    for member, _ in existing:
        configs.setdefault(member.config_key, (member.config_index, dict(member.params)))
    fresh: list[Configuration] = []
    if spec.method == "grid":
        fresh = [c for c in grid(spec) if config_key(c) not in configs]
    else:
        room = (spec.max_configurations or 0) - len(configs)
        count = room if new_configurations is None else min(room, new_configurations)
        fresh = sample_configurations(
            spec, count=count, known=_known(spec, existing), round_index=round_index
        )
    next_index = max((index for index, _ in configs.values()), default=-1) + 1
    for config in fresh:
        configs[config_key(config)] = (next_index, config)
        next_index += 1
    base = base_dict(spec)
    planned: list[store.NewMember] = []
    for key, (index, config) in sorted(configs.items(), key=lambda item: item[1][0]):
        for seed in seeds:
            if (key, seed) in have_pairs:
                continue
            try:
                built = member_spec(spec, config, seed, base=base)
            except ValidationError:
                logger.warning("sweep configuration %s makes no valid spec; skipped", config)
                continue
            planned.append(store.NewMember(config, key, index, seed, built))
    keys = group_keys(
        [m.spec for m in planned], group_size=spec.group_size, round_index=round_index
    )
    grouped = [dataclasses.replace(m, group_key=k) for m, k in zip(planned, keys, strict=True)]
    return Plan(grouped, fresh)


def checked_plan(
    spec: SweepSpec,
    *,
    existing: Members,
    round_index: int,
    new_configurations: int | None,
    limits: CostLimits | None,
) -> Plan:
    """``plan_members``, with a sampled search's new configurations checked as a grid's
    are at its definition (a valid spec within the cost limits): SweepDefinitionError."""
    plan = plan_members(
        spec, existing=existing, round_index=round_index, new_configurations=new_configurations
    )
    if spec.method != "grid":
        problems = member_problems(spec, plan.configurations, limits=limits)
        if problems:
            raise SweepDefinitionError(problems)
    return plan


def _dispatch_all(experiments: Sequence[ExperimentRow], dispatch: Dispatch) -> None:
    for experiment in experiments:
        dispatch(experiment.id, experiment.queue)


def _tpe_room(spec: SweepSpec, active: int) -> int:
    """How many configurations an adaptive search may add now: enough to keep
    ``parallelism`` members in flight."""
    free = spec.parallelism - active
    return max(0, math.ceil(free / len(spec.seed_list)))


# --- the steps ------------------------------------------------------------------------------


def create(
    *,
    session: Session,
    tenant_id: str,
    spec: SweepSpec,
    queue_for: QueueFor,
    dispatch: Dispatch,
    limits: CostLimits | None,
    idempotency_key: str | None = None,
) -> tuple[SweepRow, bool]:
    """Check a definition, store the sweep with its first members and queue them; returns
    the sweep and whether it was created (False: an idempotent replay). Raises
    ``SweepDefinitionError`` naming each field to fix."""
    problems = definition_problems(spec, limits=limits)
    if problems:
        raise SweepDefinitionError(problems)
    plan = checked_plan(
        spec,
        existing=[],
        round_index=0,
        new_configurations=_tpe_room(spec, 0) if spec.method == "tpe" else None,
        limits=limits,
    )
    if not plan.members:
        raise SweepDefinitionError([FieldProblem("parameters", "the sweep has no member to run")])
    sweep, created, experiments = store.create_sweep(
        session=session,
        tenant_id=tenant_id,
        spec=stored_definition(spec),
        name=spec.name,
        members=plan.members,
        queue_for=queue_for,
        idempotency_key=idempotency_key,
    )
    _dispatch_all(experiments, dispatch)
    return sweep, created


def _extended(spec: SweepSpec, extension: SweepExtension) -> SweepSpec:
    """The definition after an extension, checked against the one it extends."""
    data = stored_definition(spec)
    problems: list[FieldProblem] = []
    if extension.seeds is not None:
        seeds = (
            list(range(extension.seeds)) if isinstance(extension.seeds, int) else extension.seeds
        )
        lost = sorted(set(spec.seed_list) - set(seeds))
        if lost:
            problems.append(
                FieldProblem("seeds", f"an extension keeps every seed; {lost} would be dropped")
            )
        data["seeds"] = extension.seeds
    if extension.parameters is not None:
        data["parameters"] = {
            **data["parameters"],
            **{
                p: v.model_dump(mode="json", exclude_unset=True)
                for p, v in extension.parameters.items()
            },
        }
    if extension.max_members is not None:
        if spec.method == "grid":
            problems.append(FieldProblem("max_members", "a grid has no max_members; add values"))
        elif spec.max_members is not None and extension.max_members < spec.max_members:
            problems.append(
                FieldProblem(
                    "max_members",
                    f"an extension raises max_members; {extension.max_members} is below "
                    f"{spec.max_members}",
                )
            )
        data["max_members"] = extension.max_members
    if problems:
        raise SweepDefinitionError(problems)
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise SweepDefinitionError(
            [
                FieldProblem(".".join(str(p) for p in error["loc"]) or "body", error["msg"])
                for error in exc.errors()
            ]
        ) from exc


def extend(
    *,
    session: Session,
    sweep: SweepRow,
    extension: SweepExtension,
    queue_for: QueueFor,
    dispatch: Dispatch,
    limits: CostLimits | None,
) -> int:
    """Extend a sweep, keeping every member it has: more seeds for every configuration, new
    values or wider ranges, a larger ``max_members``; returns how many members it added.
    Raises ``SweepDefinitionError``, or ``SweepCancelledError`` for a cancelled sweep."""
    if sweep.status == SweepStatus.CANCELLED:
        raise SweepCancelledError(sweep.id)
    for _attempt in range(5):  # another process may add a round meanwhile: plan again
        spec = _extended(definition_of(sweep), extension)
        problems = definition_problems(spec, limits=limits)
        if problems:
            raise SweepDefinitionError(problems)
        existing = store.members(session=session, sweep_id=sweep.id)
        room = None
        if spec.method == "tpe":
            room = _tpe_room(spec, store.active_members(session=session, sweep_id=sweep.id))
        plan = checked_plan(
            spec,
            existing=existing,
            round_index=sweep.rounds,
            new_configurations=room,
            limits=limits,
        )
        if not plan.members and stored_definition(spec) == sweep.spec:
            session.commit()
            return 0  # nothing new: an extension another process made already, say
        added = store.add_members(
            session=session,
            sweep_id=sweep.id,
            after_round=sweep.rounds,
            members=plan.members,
            queue_for=queue_for,
            spec=stored_definition(spec),
        )
        if added is not None:
            _dispatch_all(added, dispatch)
            if not added:
                tend(session=session, sweep_id=sweep.id, queue_for=queue_for, dispatch=dispatch)
            return len(added)
        session.refresh(sweep)
    raise RuntimeError(f"sweep {sweep.id}: could not add a round after 5 tries")


class SweepCancelledError(Exception):
    def __init__(self, sweep_id: str) -> None:
        super().__init__(f"sweep {sweep_id} was cancelled; a cancelled sweep is not extended")


def tend(*, session: Session, sweep_id: str, queue_for: QueueFor, dispatch: Dispatch) -> int:
    """The step after a member ends: an adaptive search samples configurations to keep
    ``parallelism`` members in flight; a sweep with no member left to run and nothing
    left to sample is finished. Returns how many members it added."""
    sweep = store.get_sweep(session=session, sweep_id=sweep_id, tenant_id=None)
    if sweep is None or sweep.status != SweepStatus.RUNNING:
        session.commit()
        return 0
    spec = definition_of(sweep)
    active = store.active_members(session=session, sweep_id=sweep_id)
    if spec.method == "tpe":
        room = _tpe_room(spec, active)
        if room > 0:
            existing = store.members(session=session, sweep_id=sweep_id)
            plan = plan_members(
                spec, existing=existing, round_index=sweep.rounds, new_configurations=room
            )
            if plan.members:
                added = store.add_members(
                    session=session,
                    sweep_id=sweep_id,
                    after_round=sweep.rounds,
                    members=plan.members,
                    queue_for=queue_for,
                )
                _dispatch_all(added or [], dispatch)
                return len(added or [])
    if active == 0:
        store.mark_finished(session=session, sweep_id=sweep_id)
    session.commit()
    return 0


def cancel(*, session: Session, sweep: SweepRow) -> int:
    """Cancel the sweep and every member (queued ones at once, running ones at their next
    heartbeat); returns how many members it reached."""
    store.mark_cancelled(session=session, sweep_id=sweep.id)
    return cancel_sweep_members(session=session, sweep_id=sweep.id)
