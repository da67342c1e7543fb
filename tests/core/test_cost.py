"""What a run will cost, from its spec (core/cost_estimate.py), and the limits that refuse a
spec that would exhaust a machine (core/cost_limits.py), while every spec the project itself
uses fits."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from core.cost_estimate import (
    MODEL_SHAPES,
    estimate_cost,
    optimizer_state_tensors,
    points_per_epoch,
)
from core.cost_limits import LIMITS, CostLimitError, CostLimits, check_cost, cost_problems
from core.settings import Settings
from core.spec import MODEL_VARIANTS, OPTIMIZER_VARIANTS, ExperimentSpec, variant_name
from core.table1 import table1_configs
from tests.factories import (
    digits_body,
    digits_spec,
    diverging_body,
    endless_body,
    linear_spec,
    per_example_body,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = CostLimits(
    parameters=100_000_000, memory_bytes=16 * 2**30, steps=1_000_000, stored_points=2_000_000
)


def spec(**fields: Any) -> ExperimentSpec:
    return ExperimentSpec.model_validate(fields)


# The issue's five specs, each with the fields and limits it must be refused on.
EXHAUSTING: list[Any] = [
    pytest.param(
        {"dataset": {"name": "mnist"}, "model": {"name": "mlp", "hidden_sizes": [65536, 65536]}},
        {("model.hidden_sizes", "parameters"), ("model.hidden_sizes", "memory_bytes")},
        id="mlp-65536x2",
    ),
    pytest.param(
        {"dataset": {"name": "mnist"}, "model": {"name": "mlp", "hidden_sizes": [65536] * 16}},
        {("model.hidden_sizes", "parameters"), ("model.hidden_sizes", "memory_bytes")},
        id="mlp-65536x16",
    ),
    pytest.param(
        {"dataset": {"name": "mnist"}, "model": {"name": "cnn", "channels": [4096, 4096]}},
        {("model.channels", "parameters"), ("model.channels", "memory_bytes")},
        id="cnn-4096-channels",
    ),
    pytest.param(
        {"dataset": {"name": "digits", "batch_size": 1}, "model": {"name": "mlp"}, "epochs": 10000},
        {("epochs", "steps"), ("epochs", "stored_points")},
        id="digits-10000-epochs-batch-1",
    ),
    pytest.param(
        {
            "dataset": {"name": "linear", "num_points": 1_000_000, "batch_size": 1},
            "model": {"name": "linear_regression"},
            "epochs": 10000,
        },
        {("epochs", "steps"), ("epochs", "stored_points")},
        id="linear-million-points-batch-1",
    ),
]


@pytest.mark.parametrize(("body", "expected"), EXHAUSTING)
def test_spec_that_would_exhaust_a_machine_is_refused_naming_field_and_limit(
    body: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    problems = cost_problems(spec(**body), DEFAULTS)
    assert {(problem.field, problem.limit) for problem in problems} == expected
    for problem in problems:
        limit = getattr(DEFAULTS, problem.limit)
        assert LIMITS[problem.limit].setting in problem.message
        assert f"{limit:,}" in problem.message or str(limit) in problem.message
    with pytest.raises(CostLimitError, match=re.escape(problems[0].message)):
        check_cost(spec(**body), DEFAULTS)


def test_estimates_of_the_issue_examples() -> None:
    """The figures the issue gives: a 17 GB second weight, ~64 G parameters, ~9 M steps
    and ~18 M stored points."""
    two_wide = estimate_cost(spec(**EXHAUSTING[0].values[0]))
    assert two_wide.parameters == (784 * 65536 + 65536) + (65536 * 65536 + 65536) + 655370
    assert 65536 * 65536 * 4 > 17e9
    sixteen = estimate_cost(spec(**EXHAUSTING[1].values[0]))
    assert 64e9 < sixteen.parameters < 65e9
    digits = estimate_cost(spec(**EXHAUSTING[3].values[0]))
    assert (digits.steps_per_epoch, digits.steps) == (898, 8_980_000)
    assert digits.stored_points == 2 * 8_980_000 + 10000 * 6


def test_memory_beyond_the_limit_from_the_batch_names_batch_size() -> None:
    wide_batch = spec(
        dataset={"name": "mnist", "batch_size": 65536},
        model={"name": "mlp", "hidden_sizes": [2048] * 16, "dropout": 0.5},
    )
    cost = estimate_cost(wide_batch)
    assert cost.parameters < DEFAULTS.parameters
    assert cost.batch_size == 60000  # a batch larger than the data set is the data set
    (problem,) = cost_problems(wide_batch, DEFAULTS)
    assert (problem.field, problem.limit) == ("dataset.batch_size", "memory_bytes")
    assert "ADAMLAB_MAX_RUN_MEMORY_BYTES" in problem.message and "16 GiB" in problem.message
    smaller = wide_batch.model_copy(
        update={"dataset": wide_batch.dataset.model_copy(update={"batch_size": 128})}
    )
    assert cost_problems(smaller, DEFAULTS) == []


def _doc_specs() -> list[Any]:
    """The specs posted with curl in the README and docs/api.md (a body with a data set:
    an edit's body, PATCH, is not a spec)."""
    found = []
    for path in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        for match in re.finditer(r"-d '(\{.*?\})'", path.read_text(), flags=re.DOTALL):
            body = json.loads(match.group(1))
            if "dataset" in body:
                found.append(pytest.param(body, id=path.name))
    return found


def _example_specs() -> list[Any]:
    return [
        pytest.param(json.loads(path.read_text()), id=path.name)
        for path in sorted((REPO_ROOT / "examples").glob("*.json"))
    ]


def _table1_specs() -> list[Any]:
    return [
        pytest.param(config.spec.model_dump(mode="json"), id=config.key)
        for config in table1_configs()
    ]


def _factory_specs() -> list[Any]:
    bodies = [digits_body(), per_example_body(), endless_body(), diverging_body()]
    specs = [
        *bodies,
        digits_spec().model_dump(mode="json"),
        linear_spec().model_dump(mode="json"),
    ]
    return [pytest.param(body, id=f"factory-{i}") for i, body in enumerate(specs)]


PROJECT_SPECS = _table1_specs() + _example_specs() + _doc_specs() + _factory_specs()


def test_the_project_specs_are_found() -> None:
    assert len(_table1_specs()) == 10
    assert len(_example_specs()) >= 2
    assert len(_doc_specs()) >= 2


@pytest.mark.parametrize("body", PROJECT_SPECS)
def test_every_spec_the_project_uses_fits_the_default_limits(body: dict[str, Any]) -> None:
    assert cost_problems(spec(**body), CostLimits.from_settings()) == []


def test_default_limits_are_the_settings_defaults_and_fit_24_gib() -> None:
    limits = _limits(Settings())
    assert limits == DEFAULTS
    # weights, gradients and Adam's two moments of the largest model admitted fit in
    # the memory limit, which leaves a third of 24 GiB for what the estimate leaves out
    assert 16 * limits.parameters < limits.memory_bytes <= 24 * 2**30 * 2 / 3


@pytest.mark.parametrize(
    ("limit", "field"),
    [
        ("parameters", "model.hidden_sizes"),
        ("memory_bytes", "model.hidden_sizes"),
        ("steps", "epochs"),
        ("stored_points", "epochs"),
    ],
)
def test_limit_settings_change_the_outcome(
    monkeypatch: pytest.MonkeyPatch, limit: str, field: str
) -> None:
    """The example digits MLP fits the defaults, and is refused when one limit's setting
    is set just below its estimate, on that limit alone."""
    example = spec(**json.loads((REPO_ROOT / "examples" / "digits-adam.json").read_text()))
    assert cost_problems(example, CostLimits.from_settings()) == []
    cost = estimate_cost(example)
    estimate = {
        "parameters": cost.parameters,
        "memory_bytes": cost.memory_bytes,
        "steps": cost.steps,
        "stored_points": cost.stored_points,
    }[limit]
    monkeypatch.setenv(LIMITS[limit].setting, str(estimate))
    assert cost_problems(example, _limits(Settings())) == []
    monkeypatch.setenv(LIMITS[limit].setting, str(estimate - 1))
    problems = cost_problems(example, _limits(Settings()))
    assert [(p.field, p.limit) for p in problems] == [(field, limit)]
    assert LIMITS[limit].setting in problems[0].message


def _limits(settings: Settings) -> CostLimits:
    return CostLimits(
        parameters=settings.max_parameters,
        memory_bytes=settings.max_run_memory_bytes,
        steps=settings.max_steps,
        stored_points=settings.max_stored_points,
    )


def test_limits_are_read_from_the_settings_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import settings

    monkeypatch.setattr(settings, "max_steps", 7)
    assert CostLimits.from_settings().steps == 7


@pytest.mark.parametrize("variable", [info.setting for info in LIMITS.values()])
def test_a_limit_setting_below_one_stops_the_process(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "0")
    with pytest.raises(ValueError, match=variable):
        Settings()


def test_every_model_and_optimizer_variant_has_a_cost() -> None:
    assert set(MODEL_SHAPES) == {variant_name(variant) for variant in MODEL_VARIANTS}
    for variant in OPTIMIZER_VARIANTS:
        optimizer = variant.model_validate({"name": variant_name(variant)})
        assert optimizer_state_tensors(optimizer) in (0, 1, 2)


@pytest.mark.parametrize(
    ("body", "points"),
    [
        (digits_body(), 6),  # train_loss, train_acc, test_loss, test_acc, 2 timings
        (digits_body(dataset={"name": "digits", "validation_size": 100}), 8),
        (linear_spec().model_dump(mode="json"), 6),  # train_loss, train_mse, w, b, timings
    ],
)
def test_points_per_epoch_are_what_the_engine_writes(body: dict[str, Any], points: int) -> None:
    assert points_per_epoch(spec(**body)) == points


def test_steps_count_a_last_partial_batch() -> None:
    cost = estimate_cost(
        spec(dataset={"name": "digits", "batch_size": 100}, model={"name": "mlp"}, epochs=3)
    )
    assert (cost.steps_per_epoch, cost.steps) == (9, 27)  # 898 examples: 8 full, 1 of 98
