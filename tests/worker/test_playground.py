"""The playground's loop (worker/playground.py) on the test problems of core/problems.py:
each gradient against its derivation and finite differences, every optimizer of the catalog
on every problem, the metrics a step writes, noise, resume, divergence, and the presets'
stories measured: the canyon, Reddi's counterexample and the tutorial's fit."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from core.metrics import METRICS, MetricPoint
from core.problems import FUNCTIONS, problem_of
from core.spec import ExperimentSpec, FunctionDataset, ReddiDataset
from core.sweeps.presets import CANYON_OPTIMIZERS
from worker.engine import run_experiment
from worker.playground import loss_at, step_metric_names
from worker.reproduce_playground import preset_specs, run_preset
from worker.sinks import ListSink


def spec_of(dataset: dict[str, Any], **fields: Any) -> ExperimentSpec:
    body = {"dataset": dataset, "model": {"name": "point"}, "device": "cpu"}
    return ExperimentSpec.model_validate(body | fields)


def function(name: str, **fields: Any) -> FunctionDataset:
    dataset = spec_of({"name": "function", "function": name, **fields}).dataset
    assert isinstance(dataset, FunctionDataset)
    return dataset


KAPPA = 37.0


def derived_gradient(name: str, x: float, y: float) -> tuple[float, float]:
    """Each function's gradient, derived by hand."""
    match name:
        case "rosenbrock":
            return -2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)
        case "beale":
            a, b, c = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
            return (
                2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1),
                2 * a * x + 4 * b * x * y + 6 * c * x * y**2,
            )
        case "himmelblau":
            u, v = x**2 + y - 11, x + y**2 - 7
            return 4 * x * u + 2 * v, 2 * u + 4 * y * v
        case "saddle":
            return 2 * x, y**3 - y
        case "canyon":
            return x, KAPPA * y
    raise AssertionError(name)


POINTS = [(-1.5, 2.0), (0.3, -0.7), (2.2, 1.1), (-3.1, -2.4)]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_gradient_is_the_derived_one_and_the_finite_differences(name: str) -> None:
    """Autograd's gradient of the loss the loop minimises (float64) equals the hand-derived
    gradient and central finite differences of core's formula evaluated with NumPy."""
    dataset = function(name, **({"curvature_ratio": KAPPA} if name == "canyon" else {}))
    objective = problem_of(dataset).objective
    h = 1e-6
    for x, y in POINTS:
        position = torch.tensor([x, y], dtype=torch.float64, requires_grad=True)
        loss_at(dataset, position, step=1).backward()
        assert position.grad is not None
        autograd = position.grad.tolist()
        finite = [
            (objective(np.float64(x + h), np.float64(y)) - objective(np.float64(x - h), y))
            / (2 * h),
            (objective(np.float64(x), np.float64(y + h)) - objective(x, np.float64(y - h)))
            / (2 * h),
        ]
        derived = derived_gradient(name, x, y)
        scale = max(1.0, *map(abs, derived))
        assert autograd == pytest.approx(derived, rel=1e-12, abs=1e-9 * scale)
        assert finite == pytest.approx(derived, rel=1e-6, abs=1e-6 * scale)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_minimum_has_f_star_and_a_zero_gradient(name: str) -> None:
    dataset = function(name)
    problem = problem_of(dataset)
    for minimum in problem.minima:
        position = torch.tensor(minimum, dtype=torch.float64, requires_grad=True)
        loss = loss_at(dataset, position, step=1)
        loss.backward()
        assert position.grad is not None
        assert loss.item() == pytest.approx(problem.minimum_value, abs=1e-9)
        assert position.grad.norm().item() < 1e-4  # Himmelblau's minima have 6 decimals
        assert problem.distance(minimum) == 0.0


def test_reddi_gradient_is_1010_once_a_period_else_minus_10() -> None:
    dataset = spec_of({"name": "reddi"}).dataset
    assert isinstance(dataset, ReddiDataset)
    slopes = []
    for step in range(1, 204):
        position = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
        loss_at(dataset, position, step).backward()
        assert position.grad is not None
        slopes.append(position.grad.item())
    assert [s for s in slopes if s == 1010.0] == [1010.0] * 3
    assert [i + 1 for i, s in enumerate(slopes) if s == 1010.0] == [1, 102, 203]
    assert all(s == -10.0 for s in slopes if s != 1010.0)
    assert problem_of(dataset).minimum_value == pytest.approx(-10 / 101)


CATALOG: list[dict[str, Any]] = [
    {"name": "sgd", "lr": 1e-3},
    {"name": "sgd", "lr": 1e-3, "momentum": 0.9},
    {"name": "sgd", "lr": 1e-3, "momentum": 0.9, "nesterov": True},
    {"name": "rmsprop", "lr": 1e-3},
    {"name": "adagrad", "lr": 1e-2},
    {"name": "adadelta"},
    {"name": "adam", "lr": 1e-2},
    {"name": "adam", "lr": 1e-2, "bias_correction": False},
    {"name": "adam", "lr": 1e-2, "amsgrad": True},
    {"name": "adamax", "lr": 1e-2},
    {"name": "adamw", "lr": 1e-2},
]
"""Every optimizer of the catalog, Adam with and without bias correction and AMSGrad."""

PROBLEMS: list[dict[str, Any]] = [
    *({"name": "function", "function": name, "steps_per_epoch": 20} for name in FUNCTIONS),
    {"name": "reddi", "steps_per_epoch": 20},
]


def _values(points: list[MetricPoint], name: str) -> list[float]:
    values = [p.value for p in points if p.name == name]
    assert all(v is not None for v in values)
    return [v for v in values if v is not None]


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.get("function", p["name"]))
@pytest.mark.parametrize("optimizer", CATALOG, ids=lambda o: "-".join(map(str, o.values())))
def test_every_optimizer_runs_on_every_problem_and_writes_each_step(
    problem: dict[str, Any], optimizer: dict[str, Any]
) -> None:
    spec = spec_of(problem, optimizer=optimizer, epochs=2)
    sink = ListSink()
    result = run_experiment(spec, sink=sink)
    assert result.status == "succeeded", result.error
    dataset = spec.dataset
    assert isinstance(dataset, FunctionDataset | ReddiDataset)
    dimensions = dataset.input_shape[0]
    assert result.steps_completed == 40 and result.metadata["parameters"] == dimensions
    names = step_metric_names(dimensions)
    assert sink.names() == {*names, "distance", "suboptimality"}
    assert all(name in METRICS for name in sink.names())
    for name in names:
        assert [p.step for p in sink.series(name)] == list(range(1, 41)), name
    # each step_* is the change of its coordinate, from the start
    start = FUNCTIONS[problem["function"]].start if "function" in problem else (0.0,)
    for axis, coordinate in enumerate(("x", "y")[:dimensions]):
        positions = [start[axis], *_values(sink.points, coordinate)]
        changes = np.diff(np.asarray(positions, dtype=np.float64))
        steps = _values(sink.points, f"step_{coordinate}")
        np.testing.assert_allclose(steps, changes, rtol=0, atol=1e-6)
    # f is F at the recorded position
    objective = problem_of(dataset).objective
    coordinates = [_values(sink.points, c) for c in ("x", "y")[:dimensions]]
    np.testing.assert_allclose(
        _values(sink.points, "f"),
        [objective(*map(np.float64, p)) for p in zip(*coordinates, strict=True)],
        rtol=1e-5,
        atol=1e-5,
    )
    assert result.final_metrics["distance"] == pytest.approx(
        problem_of(dataset).distance([c[-1] for c in coordinates]),
        rel=1e-6,
    )


def test_adams_step_is_alpha_m_hat_over_root_v_hat_per_coordinate() -> None:
    """The step_x/step_y points are Adam's −α·m̂/(√v̂ + ε), replayed here in float64 from
    the gradients of the recorded positions: about α in both coordinates although the
    canyon's gradients differ a hundredfold."""
    alpha, (beta1, beta2), eps = 0.05, (0.9, 0.999), 1e-8
    spec = spec_of(
        {"name": "function", "function": "canyon", "steps_per_epoch": 5},
        optimizer={"name": "adam", "lr": alpha},
    )
    sink = ListSink()
    assert run_experiment(spec.model_copy(update={"epochs": 1}), sink=sink).status == "succeeded"
    xs, ys = _values(sink.points, "x"), _values(sink.points, "y")
    recorded = list(
        zip(_values(sink.points, "step_x"), _values(sink.points, "step_y"), strict=True)
    )
    position = np.array([-8.0, 1.0])
    m = v = np.zeros(2)
    for t in range(1, 6):
        gradient = np.array([position[0], 100.0 * position[1]])
        m = beta1 * m + (1 - beta1) * gradient
        v = beta2 * v + (1 - beta2) * gradient**2
        step = -alpha * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        np.testing.assert_allclose(recorded[t - 1], step, rtol=1e-4)
        position = np.array([xs[t - 1], ys[t - 1]], dtype=np.float64)
    assert abs(recorded[0][0]) == pytest.approx(alpha, rel=1e-4)
    assert abs(recorded[0][1]) == pytest.approx(alpha, rel=1e-4)


def test_noise_is_drawn_from_the_seed() -> None:
    def run(seed: int, noise: float) -> list[float]:
        spec = spec_of(
            {"name": "function", "function": "himmelblau", "noise": noise, "steps_per_epoch": 30},
            optimizer={"name": "sgd", "lr": 0.01},
            epochs=1,
            seed=seed,
        )
        sink = ListSink()
        assert run_experiment(spec, sink=sink).status == "succeeded"
        return _values(sink.points, "x")

    assert run(1, 0.5) == run(1, 0.5)
    assert run(1, 0.5) != run(2, 0.5)
    assert run(1, 0.0) == run(2, 0.0)  # no noise: the seed changes nothing
    assert run(1, 0.5) != run(1, 0.0)


def test_resume_repeats_the_uninterrupted_run_noise_included(tmp_path: Path) -> None:
    spec = spec_of(
        {"name": "function", "function": "beale", "noise": 0.3, "steps_per_epoch": 10},
        optimizer={"name": "adam", "lr": 0.05},
        epochs=3,
        seed=7,
    )
    straight = ListSink()
    run_experiment(spec, sink=straight, checkpoint_dir=tmp_path / "straight")
    resumed = ListSink()
    calls = {"n": 0}

    def stop_before_step_16() -> bool:
        calls["n"] += 1
        return calls["n"] >= 16

    folder = tmp_path / "interrupted"
    stopped = run_experiment(
        spec, sink=resumed, checkpoint_dir=folder, should_stop=stop_before_step_16
    )
    assert (stopped.status, stopped.epochs_completed, stopped.steps_completed) == (
        "cancelled", 1, 15,
    )  # fmt: skip
    finished = run_experiment(spec, sink=resumed, checkpoint_dir=folder)
    assert finished.status == "succeeded" and finished.resumed_from_epoch == 1
    assert resumed.points == straight.points


def test_divergence_fails_naming_the_step() -> None:
    spec = spec_of(
        {"name": "function", "function": "rosenbrock", "steps_per_epoch": 50},
        optimizer={"name": "sgd", "lr": 0.1},
        epochs=1,
    )
    sink = ListSink()
    result = run_experiment(spec, sink=sink)
    assert result.status == "failed"
    assert result.error is not None and "non-finite at step" in result.error
    written = sink.series("x")
    assert written and all(p.value is not None and math.isfinite(p.value) for p in written)


def _final(points: list[MetricPoint], name: str) -> float:
    return _values(points, name)[-1]


def test_canyon_preset_tells_the_story() -> None:
    """After the preset's 100 steps: SGD is farther from the minimum than momentum and
    Adam; it bounced across the canyon (y changed sign at most steps) while momentum's
    oscillation died out; Adam's first step was about α in both coordinates, SGD's 100
    times larger across the canyon than along it."""
    runs = run_preset("canyon")
    assert [run.spec.optimizer.model_dump(include={"name", "lr"}) for run in runs] == [
        {"name": o["name"], "lr": o["lr"]} for o in CANYON_OPTIMIZERS
    ]
    assert all(run.result.status == "succeeded" for run in runs)
    sgd, momentum, adam = (run.result.final_metrics["distance"] for run in runs)
    assert sgd > 10 * momentum and sgd > 10 * adam
    assert sgd > 1.0 and momentum < 0.05 and adam < 0.1

    sgd_y = _values(runs[0].points, "y")
    flips = sum(a * b < 0 for a, b in zip(sgd_y, sgd_y[1:], strict=False))
    assert flips > 0.9 * (len(sgd_y) - 1)  # wall to wall at nearly every step
    assert max(map(abs, _values(runs[1].points, "y")[-20:])) < 1e-5  # damped
    assert max(map(abs, sgd_y[-20:])) > 1e-3  # still bouncing

    first_sgd = (_values(runs[0].points, "step_x")[0], _values(runs[0].points, "step_y")[0])
    first_adam = (_values(runs[2].points, "step_x")[0], _values(runs[2].points, "step_y")[0])
    assert abs(first_sgd[1]) / abs(first_sgd[0]) == pytest.approx(100 / 8, rel=1e-3)
    assert abs(first_adam[1]) / abs(first_adam[0]) == pytest.approx(1.0, rel=1e-3)


def test_reddi_preset_adam_drifts_to_plus_one_amsgrad_finds_minus_one() -> None:
    adam, amsgrad = run_preset("reddi")
    assert adam.spec.optimizer.name == "adam" and not adam.spec.optimizer.amsgrad  # type: ignore[union-attr]
    assert amsgrad.spec.optimizer.amsgrad  # type: ignore[union-attr]
    assert adam.result.status == amsgrad.result.status == "succeeded"
    assert _final(adam.points, "x") > 0.5
    assert _final(amsgrad.points, "x") < -0.5
    assert all(-1.0 <= x <= 1.0 for x in _values(adam.points, "x"))  # projected


def test_tutorial_preset_finds_w_2_and_b_1_from_zero() -> None:
    (spec,) = preset_specs("tutorial")
    assert spec.model.init == "zeros"  # type: ignore[union-attr]
    sink = ListSink()
    result = run_experiment(spec.model_copy(update={"device": "cpu"}), sink=sink)
    assert result.status == "succeeded", result.error
    assert result.steps_completed == 100
    assert abs(result.final_metrics["w"] - 2.0) < 0.05
    assert abs(result.final_metrics["b"] - 1.0) < 0.1
    # from w = b = 0: Adam's first step moves each by about lr (0.1)
    assert _values(sink.points, "w")[0] == pytest.approx(0.1, rel=1e-3)


def test_reproducibility_record_of_a_test_problem_names_its_formula(tmp_path: Path) -> None:
    from worker.environment import describe_environment

    spec = spec_of({"name": "function", "noise": 0.1})
    record = describe_environment(spec, device=torch.device("cpu"), data_dir=tmp_path)
    assert record.data_files == {"function": "a formula (core/problems.py), no files"}
    assert record.determinism.data_order.startswith("none: a test problem")
