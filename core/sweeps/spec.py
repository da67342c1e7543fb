"""A sweep's definition, as a client sends it (``POST /v1/sweeps``) and the store keeps it.

For example::

    {"name": "lr-sensitivity",
     "base": {"dataset": {"name": "mnist"}, "model": {"name": "mlp"}, "epochs": 5},
     "parameters": {
         "optimizer.name": {"values": ["adam", "adamax", "sgd"]},
         "optimizer.lr": {"values": [1e-4, 1e-3, 1e-2, 1e-1]},
         "optimizer.momentum": {"values": [0.9], "when": {"optimizer.name": "sgd"}}},
     "seeds": 3, "method": "grid",
     "metric": {"name": "test_acc", "goal": "maximize"},
     "early_stopping": {"method": "asha", "min_epochs": 1, "reduction_factor": 3}}

The checks that span fields (paths, a grid's values, ``max_members``, each member's spec)
are ``core.sweeps.space.definition_problems``, which names the field of each problem.

A parameter's key is a path into the experiment spec (``optimizer.lr``, ``model.dropout``,
``dataset.batch_size``, ``schedule.name``, ``epochs``); a value at a part's path (``model``,
``optimizer``) is an object that replaces the whole part. ``when`` makes a parameter
conditional: it applies only to configurations whose spec has, at each path named, the value
given (or one of the values of a list). Seeds are an axis: every configuration runs once per
seed. The search samples configurations; ``max_members`` counts members (configurations ×
seeds). Whether each path, value and combination makes a valid experiment is checked
against the experiment spec when the sweep is created (``core.sweeps.space``).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Discriminator, Field, JsonValue, Tag, field_validator, model_validator

from core.metrics import METRICS
from core.spec import ExperimentSpec
from core.spec.fields import SpecPart
from core.text import PlainText, did_you_mean

MAX_PARAMETERS = 32
MAX_VALUES = 1_000
MAX_SEEDS = 100
MAX_MEMBERS = 10_000
"""The most members one sweep may have (``max_members`` or a grid's size × seeds)."""

SPEC_PARTS = ("dataset", "model", "optimizer", "schedule")
"""The experiment spec's parts: a value at one of these paths is an object."""
SWEEPABLE_FIELDS = ("epochs", "l2", "device")
"""The experiment spec's top-level fields a sweep may vary besides the parts."""

Scalar = str | int | float | bool | None
Condition = dict[str, Scalar | list[Scalar]]


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot be a parameter's (or a condition's) path; None when it can."""
    head, _, rest = path.partition(".")
    if head == "seed":
        return "seeds are an axis of the sweep: give 'seeds', not a 'seed' parameter"
    if head in ("name", "tags"):
        return f"{head!r} labels the sweep's members; it is not swept"
    if head in SPEC_PARTS:
        if rest and not all(rest.split(".")):
            return f"{path!r} is not a path: an empty segment"
        return None
    if head in SWEEPABLE_FIELDS and not rest:
        return None
    hint = did_you_mean(head, [*SPEC_PARTS, *SWEEPABLE_FIELDS])
    return (
        f"{path!r} is not a path of the experiment spec (a part: {', '.join(SPEC_PARTS)}, "
        f"or a field: {', '.join(SWEEPABLE_FIELDS)})" + (f"; {hint}" if hint else "")
    )


class _Parameter(SpecPart):
    when: Condition | None = Field(
        None,
        description="Applies only to configurations whose spec holds, at each path, the "
        "value given (or one of a list's); default: always.",
    )


class ValuesParameter(_Parameter):
    """A parameter that takes each of a list of values."""

    values: list[JsonValue] = Field(min_length=1, max_length=MAX_VALUES, strict=False)

    @field_validator("values")
    @classmethod
    def _distinct(cls, values: list[JsonValue]) -> list[JsonValue]:
        import json

        seen = [json.dumps(v, sort_keys=True) for v in values]
        if len(set(seen)) != len(seen):
            raise ValueError("a value is listed twice")
        return values


class DistributionParameter(_Parameter):
    """A parameter drawn from a distribution: ``uniform`` on [min, max], ``log_uniform``
    (uniform in log) on [min, max] with min > 0, ``int_uniform`` an integer in [min, max]."""

    distribution: Literal["uniform", "log_uniform", "int_uniform"]
    min: float
    max: float

    @model_validator(mode="after")
    def _bounds(self) -> DistributionParameter:
        if not (math.isfinite(self.min) and math.isfinite(self.max)):
            raise ValueError("min and max must be finite")
        if self.min >= self.max:
            raise ValueError(f"min ({self.min:g}) must be less than max ({self.max:g})")
        if self.distribution == "log_uniform" and self.min <= 0:
            raise ValueError("a log_uniform distribution needs min > 0")
        if self.distribution == "int_uniform" and not (
            self.min.is_integer() and self.max.is_integer()
        ):
            raise ValueError("an int_uniform distribution needs integer min and max")
        return self


def _parameter_kind(value: object) -> str:
    if isinstance(value, dict):
        return "distribution" if "distribution" in value else "values"
    return "distribution" if isinstance(value, DistributionParameter) else "values"


Parameter = Annotated[
    Annotated[ValuesParameter, Tag("values")]
    | Annotated[DistributionParameter, Tag("distribution")],
    Discriminator(_parameter_kind),
]
"""``{"values": [...]}`` or ``{"distribution": ..., "min": a, "max": b}`` (by whether the
object has ``distribution``), either with an optional ``when``."""


class SweepMetric(SpecPart):
    """The metric the sweep ranks configurations by: a per-epoch metric of the registry
    (its value after the last epoch; early stopping compares its value per epoch)."""

    name: str = Field(
        "test_acc", description="A per-epoch metric of GET /v1/catalog; default test_acc."
    )
    goal: Literal["maximize", "minimize"] | None = Field(
        None, description="Default: the metric's own direction (maximize for accuracies)."
    )

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        info = METRICS.get(name)
        ranked = [
            n for n, i in METRICS.items() if i.per == "epoch" and i.higher_is_better is not None
        ]
        if info is None or name not in ranked:
            hint = did_you_mean(name, ranked)
            raise ValueError(
                f"{name!r} is not a per-epoch metric a sweep can rank by (one of "
                f"{', '.join(ranked)})" + (f"; {hint}" if hint else "")
            )
        return name

    @property
    def maximize(self) -> bool:
        if self.goal is not None:
            return self.goal == "maximize"
        return bool(METRICS[self.name].higher_is_better)


class NoEarlyStopping(SpecPart):
    method: Literal["none"]


class AshaEarlyStopping(SpecPart):
    """Asynchronous successive halving (Li et al. 2020; Optuna's SuccessiveHalvingPruner):
    at epochs min_epochs · reduction_factor^k a member goes on only while its metric is
    among the best 1/reduction_factor of the members that reached that epoch so far."""

    method: Literal["asha"]
    min_epochs: int = Field(1, ge=1, le=10_000, description="The first rung's epoch; default 1.")
    reduction_factor: int = Field(3, ge=2, le=100, description="Default 3.")


class MedianEarlyStopping(SpecPart):
    """The median rule (Golovin et al. 2017; Optuna's MedianPruner): from ``min_epochs`` on,
    a member stops when its metric is worse than the median of the finished members' at
    the same epoch, once ``min_members`` have finished."""

    method: Literal["median"]
    min_epochs: int = Field(1, ge=1, le=10_000, description="Default 1.")
    min_members: int = Field(5, ge=1, le=MAX_MEMBERS, description="Default 5.")


EarlyStopping = Annotated[
    NoEarlyStopping | AshaEarlyStopping | MedianEarlyStopping, Field(discriminator="method")
]

Method = Literal["grid", "random", "sobol", "tpe"]


class SweepSpec(SpecPart):
    """A sweep: the base spec, what it varies, the seeds, the search, the metric, the
    early-stopping rule."""

    name: PlainText = Field("sweep", min_length=1, max_length=200)
    base: ExperimentSpec
    parameters: dict[str, Parameter] = Field(min_length=1, max_length=MAX_PARAMETERS)
    seeds: int | list[Annotated[int, Field(ge=0, lt=2**63)]] = Field(
        1,
        description="A count n (seeds 0..n-1) or a list of distinct seeds; default 1.",
    )
    method: Method = "grid"
    max_members: int | None = Field(
        None,
        ge=1,
        le=MAX_MEMBERS,
        description="Members (configurations × seeds) a random, sobol or tpe search samples; "
        "required for those, not for grid.",
    )
    parallelism: int = Field(
        4, ge=1, le=1_000, description="tpe: members in flight at once; default 4."
    )
    sampler_seed: int = Field(0, ge=0, lt=2**32, description="Seeds the search; default 0.")
    group_size: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Compatible members trained as one stacked model by one worker task, at "
        "most this many (1: one member per run); default: chosen from the model's memory "
        "estimate and the device.",
    )
    metric: SweepMetric = Field(default_factory=lambda: SweepMetric.model_validate({}))
    early_stopping: EarlyStopping = Field(default_factory=lambda: NoEarlyStopping(method="none"))

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: int | list[int]) -> int | list[int]:
        if isinstance(seeds, int):
            if not 1 <= seeds <= MAX_SEEDS:
                raise ValueError(f"a count of seeds is 1 to {MAX_SEEDS}")
        elif not 1 <= len(seeds) <= MAX_SEEDS or len(set(seeds)) != len(seeds):
            raise ValueError(f"a list of seeds holds 1 to {MAX_SEEDS} distinct seeds")
        return seeds

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    @property
    def max_configurations(self) -> int | None:
        """How many configurations a non-grid search samples: max_members // seeds."""
        if self.max_members is None:
            return None
        return self.max_members // len(self.seed_list)


class SweepExtension(SpecPart):
    """What ``POST /v1/sweeps/{id}/extend`` changes; every finished member is kept.

    ``seeds``: the sweep's new seeds (a count or a list), which must hold the old ones;
    ``parameters``: entries that replace those of the same path (more values, a wider
    range) or add a path; ``max_members``: a larger bound of a non-grid search."""

    seeds: int | list[Annotated[int, Field(ge=0, lt=2**63)]] | None = None
    parameters: dict[str, Parameter] | None = Field(None, max_length=MAX_PARAMETERS)
    max_members: int | None = Field(None, ge=1, le=MAX_MEMBERS)

    @model_validator(mode="after")
    def _something(self) -> SweepExtension:
        if self.seeds is None and self.parameters is None and self.max_members is None:
            raise ValueError("an extension needs seeds, parameters or max_members")
        return self
