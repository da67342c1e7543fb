"""The search: which configurations a sweep samples, by Optuna's samplers (ask-and-tell).

The store, not a process, holds a sweep's search state: each round of sampling (the
creation, an extension, a top-up of an adaptive search) builds an in-memory Optuna study
from the configurations the sweep already has, with the results known so far, and asks it
for ``count`` more. The sampler of round k is seeded from the sweep's ``sampler_seed`` and k,
so the same sweep with the same results samples the same configurations, in any process.

- ``random``: ``RandomSampler``; ``sobol``: ``QMCSampler(qmc_type="sobol", scramble=True)``,
  whose points spread evenly within one round (a later round starts another scrambled
  sequence); ``tpe``: ``TPESampler`` (multivariate, grouped for conditional parameters,
  with the constant liar for members still running), told each configuration's result:
  the median of its seeds' final metric.
- A values parameter is a categorical choice of its values' positions; a distribution is
  Optuna's float (``log`` for log_uniform) or int distribution. Conditional parameters are
  asked only when their ``when`` holds for what was asked before them (define-by-run).
- A configuration the sweep already has is not sampled again: the draw is repeated, and a
  search whose space is used up returns fewer than asked.

The grid is not sampled: ``core.sweeps.space.grid`` enumerates it in a fixed order
(Optuna's GridSampler draws a grid in random order and has no conditional parameters).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial

from core.sweeps.space import (
    Configuration,
    apply_configuration,
    base_dict,
    condition_holds,
    config_key,
)
from core.sweeps.spec import DistributionParameter, Parameter, SweepSpec, ValuesParameter

# Optuna warns through its logger for what a sweep does on purpose (QMC with a conditional
# parameter samples that one independently); its errors still show.
optuna.logging.set_verbosity(optuna.logging.ERROR)

MAX_DRAWS_PER_CONFIGURATION = 20
"""Draws before a search gives up finding a configuration the sweep does not have yet."""


@dataclass(frozen=True)
class KnownConfiguration:
    """A configuration the sweep has, and its result: the median of its seeds' final
    metric, or None while unknown (running, or no seed succeeded)."""

    config: Configuration
    value: float | None


def round_seed(sampler_seed: int, round_index: int) -> int:
    """The seed of a sampling round: a fixed mix of the sweep's seed and the round."""
    return (sampler_seed * 1_000_003 + round_index * 7_919) % 2**32


def _sampler(sweep: SweepSpec, seed: int) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if sweep.method == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if sweep.method == "sobol":
            return optuna.samplers.QMCSampler(
                qmc_type="sobol", scramble=True, seed=seed, warn_independent_sampling=False
            )
        if sweep.method == "tpe":
            return optuna.samplers.TPESampler(
                seed=seed,
                multivariate=True,
                group=True,
                constant_liar=True,
                n_startup_trials=min(10, max(2, (sweep.max_configurations or 10) // 5)),
            )
    raise ValueError(f"method {sweep.method!r} is not sampled")


def _distribution(parameter: Parameter) -> BaseDistribution:
    if isinstance(parameter, ValuesParameter):
        return CategoricalDistribution(choices=tuple(range(len(parameter.values))))
    if parameter.distribution == "int_uniform":
        return IntDistribution(int(parameter.min), int(parameter.max))
    return FloatDistribution(
        parameter.min, parameter.max, log=parameter.distribution == "log_uniform"
    )


def _encoded(parameter: Parameter, value: Any) -> Any | None:
    """The value as Optuna's distribution holds it, or None when it is outside the
    parameter as it is now (an extension changed it)."""
    if isinstance(parameter, ValuesParameter):
        return parameter.values.index(value) if value in parameter.values else None
    if not isinstance(value, (int, float)) or not parameter.min <= value <= parameter.max:
        return None
    return int(value) if parameter.distribution == "int_uniform" else float(value)


def _history_trial(
    parameters: dict[str, Parameter], known: KnownConfiguration
) -> optuna.trial.FrozenTrial | None:
    params: dict[str, Any] = {}
    distributions: dict[str, BaseDistribution] = {}
    for path, value in known.config.items():
        parameter = parameters.get(path)
        encoded = None if parameter is None else _encoded(parameter, value)
        if parameter is None or encoded is None:
            return None
        params[path] = encoded
        distributions[path] = _distribution(parameter)
    if known.value is None:
        return create_trial(state=TrialState.RUNNING, params=params, distributions=distributions)
    return create_trial(params=params, distributions=distributions, value=known.value)


def _suggest(trial: optuna.Trial, path: str, parameter: Parameter) -> Any:
    if isinstance(parameter, ValuesParameter):
        index = trial.suggest_categorical(path, list(range(len(parameter.values))))
        return parameter.values[int(index)]  # type: ignore[arg-type]
    assert isinstance(parameter, DistributionParameter)
    if parameter.distribution == "int_uniform":
        return trial.suggest_int(path, int(parameter.min), int(parameter.max))
    return trial.suggest_float(
        path, parameter.min, parameter.max, log=parameter.distribution == "log_uniform"
    )


def sample_configurations(
    sweep: SweepSpec,
    *,
    count: int,
    known: Sequence[KnownConfiguration] = (),
    round_index: int = 0,
) -> list[Configuration]:
    """``count`` configurations the sweep does not have yet (fewer when its space is used
    up), drawn by its method's sampler seeded for ``round_index``, knowing ``known``."""
    if count <= 0:
        return []
    parameters = sweep.parameters
    study = optuna.create_study(
        direction="maximize" if sweep.metric.maximize else "minimize",
        sampler=_sampler(sweep, round_seed(sweep.sampler_seed, round_index)),
    )
    for entry in known:
        trial = _history_trial(parameters, entry)
        if trial is not None:
            study.add_trial(trial)
    seen = {config_key(entry.config) for entry in known}
    base = base_dict(sweep)
    sampled: list[Configuration] = []
    draws = 0
    while len(sampled) < count and draws < count * MAX_DRAWS_PER_CONFIGURATION:
        draws += 1
        trial = study.ask()
        config: Configuration = {}
        for path, parameter in parameters.items():
            if parameter.when is not None and not condition_holds(
                parameter.when, apply_configuration(base, config)
            ):
                continue
            config[path] = _suggest(trial, path, parameter)
        key = config_key(config)
        if key in seen:
            study.tell(trial, state=TrialState.FAIL)  # a repeat: draw again
            continue
        seen.add(key)
        sampled.append(config)  # left running: the next draws know it is taken
    return sampled
