"""The playground's torch-free parts: the test problems' facts (core/problems.py), the
spec's defaults, the presets' member specs and the figure (core/plots/playground.py) in
PNG, SVG and GIF, with a line per run and each run's steps aligned."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from core.cost_estimate import estimate_cost
from core.metrics import MetricSeries
from core.plots.playground import Trajectory, contour_window, render_playground, run_label
from core.problems import FUNCTIONS, problem_of, start_of
from core.spec import ExperimentSpec, FunctionDataset, ReddiDataset
from core.sweeps.grouping import group_signature
from core.sweeps.presets import PRESETS


def dataset_of(body: dict) -> FunctionDataset | ReddiDataset:
    dataset = ExperimentSpec.model_validate({"dataset": body, "model": {"name": "point"}}).dataset
    assert isinstance(dataset, FunctionDataset | ReddiDataset)
    return dataset


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_has_its_minimum_value_at_its_minima_and_below_it_nowhere(name: str) -> None:
    import numpy as np

    problem = problem_of(dataset_of({"name": "function", "function": name}))
    for minimum in problem.minima:
        assert problem.objective(*minimum) == pytest.approx(problem.minimum_value, abs=1e-9)
    (x_low, x_high), (y_low, y_high) = problem.window
    grid_x, grid_y = np.meshgrid(np.linspace(x_low, x_high, 301), np.linspace(y_low, y_high, 301))
    assert problem.objective(grid_x, grid_y).min() >= problem.minimum_value - 1e-9
    start = FUNCTIONS[name].start
    assert x_low < start[0] < x_high and y_low < start[1] < y_high
    assert all(x_low < m[0] < x_high and y_low < m[1] < y_high for m in problem.minima)


def test_defaults_of_the_spec_are_the_functions_own() -> None:
    canyon = dataset_of({"name": "function", "function": "canyon"})
    assert start_of(canyon) == (-8.0, 1.0) and "κ = 100" in problem_of(canyon).title
    steep = dataset_of({"name": "function", "function": "canyon", "curvature_ratio": 1000})
    assert problem_of(steep).objective(0.0, 1.0) == 500.0
    assert start_of(dataset_of({"name": "function", "start": [0.5, -2]})) == (0.5, -2.0)
    assert start_of(dataset_of({"name": "reddi"})) == (0.0,)


def test_cost_of_a_test_problem_counts_its_steps_and_points() -> None:
    spec = ExperimentSpec.model_validate(
        {"dataset": {"name": "function", "steps_per_epoch": 50}, "model": {"name": "point"},
         "optimizer": {"name": "adam"}, "epochs": 4}
    )  # fmt: skip
    cost = estimate_cost(spec)
    assert (cost.parameters, cost.steps, cost.data_bytes) == (2, 200, 0)
    assert cost.stored_points == 200 * 8 + 4 * 2
    assert cost.parameter_bytes == 4 * 2 * (2 + 2)


def test_playground_presets_expand_to_test_problems_that_train_alone() -> None:
    from core.sweeps.space import grid, member_spec
    from core.sweeps.spec import SweepSpec

    for name, count in (("canyon", 3), ("reddi", 2), ("tutorial", 1)):
        sweep = SweepSpec.model_validate(PRESETS[name]())
        specs = [member_spec(sweep, config, 0) for config in grid(sweep)]
        assert len(specs) == count, name
        if name != "tutorial":
            assert {s.model.name for s in specs} == {"point"}
            assert all(group_signature(s) is None for s in specs)


def test_run_label_says_the_optimizer_and_its_switches() -> None:
    assert run_label({"name": "sgd", "lr": 0.0195, "momentum": 0.7}) == (
        "SGD lr 0.0195, momentum 0.7"
    )
    assert run_label({"name": "adam", "lr": 0.5, "amsgrad": True}) == "AMSGrad lr 0.5"
    assert run_label({"name": "adam", "lr": 0.001, "bias_correction": False}) == (
        "Adam lr 0.001, no bias correction"
    )


def _series(values: list[float], steps: list[int] | None = None) -> MetricSeries:
    steps = steps or list(range(1, len(values) + 1))
    return MetricSeries(steps=steps, epochs=[1] * len(steps), values=values)


def test_trajectory_keeps_only_steps_with_every_value() -> None:
    curves = {
        "x": _series([1.0, 2.0, 3.0]),
        "y": _series([4.0, None, 6.0]),  # type: ignore[list-item]
        "f": _series([7.0, 8.0, 9.0]),
        "step_x": _series([0.1, 0.2, 0.3]),
        "step_y": _series([0.4, 0.5], [1, 3]),
    }
    trajectory = Trajectory.from_curves(curves, label="run", optimizer="adam", start=(0.0, 0.0))
    assert trajectory.steps == [1, 3]
    assert trajectory.positions == [(1.0, 4.0), (3.0, 6.0)]
    assert trajectory.step_sizes == [(0.1, 0.4), (0.3, 0.5)]
    assert trajectory.path() == [(0.0, 0.0), (1.0, 4.0), (3.0, 6.0)]
    thinned = Trajectory.from_curves(
        {n: _series([float(i) for i in range(1, 10_001)]) for n in ("x", "f", "step_x")},
        label="long", optimizer="sgd", start=(0.0,),
    ).thinned(1000)  # fmt: skip
    assert len(thinned.steps) <= 1001 and thinned.steps[-1] == 10_000


def _spiral(label: str, optimizer: str, turns: float) -> Trajectory:
    steps = list(range(1, 81))
    positions = [(-8 * (0.95**t), math.cos(turns * t) * 0.9**t) for t in steps]
    previous = [(-8.0, 1.0), *positions[:-1]]
    return Trajectory(
        label=label,
        optimizer=optimizer,
        start=(-8.0, 1.0),
        steps=steps,
        positions=positions,
        objective=[(x**2 + 100 * y**2) / 2 for x, y in positions],
        step_sizes=[(x - a, y - b) for (x, y), (a, b) in zip(positions, previous, strict=True)],
    )


def test_figure_draws_a_line_per_run_in_png_svg_and_gif() -> None:
    problem = problem_of(dataset_of({"name": "function", "function": "canyon"}))
    runs = [_spiral("SGD lr 0.02", "sgd", 3.0), _spiral("Adam lr 0.2", "adam", 0.3)]
    svg = render_playground(problem, runs, image_format="svg").decode()
    for label in ("SGD lr 0.02", "Adam lr 0.2"):
        assert f'id="trajectory:{label}"' in svg
        assert f'id="curve:f − f* per iteration:{label}"' in svg
        assert f'id="curve:step size in y, |Δy|:{label}"' in svg
    png = Image.open(io.BytesIO(render_playground(problem, runs, image_format="png")))
    assert png.format == "PNG" and png.width > 800
    gif = Image.open(io.BytesIO(render_playground(problem, runs, image_format="gif")))
    assert gif.format == "GIF" and gif.n_frames > 10  # type: ignore[attr-defined]


def test_figure_of_reddi_draws_x_against_the_iteration() -> None:
    problem = problem_of(dataset_of({"name": "reddi"}))
    steps = list(range(1, 51))
    run = Trajectory("AMSGrad", "adam", (0.0,), steps, [(-t / 50,) for t in steps],
                     [-t / 505 for t in steps], [(-1 / 50,) for _ in steps])  # fmt: skip
    svg = render_playground(problem, [run], image_format="svg").decode()
    assert 'id="trajectory:AMSGrad"' in svg and "step size in x" in svg
    assert "step size in y" not in svg


def test_contour_window_widens_to_a_run_but_not_without_bound() -> None:
    problem = problem_of(dataset_of({"name": "function", "function": "rosenbrock"}))
    far = Trajectory("far", "sgd", (-1.5, 2.0), [1], [(1e6, 1e6)], [1e20], [(1e6, 1e6)])
    (x_low, x_high), (y_low, y_high) = contour_window(problem, [far])
    assert x_high < 2.0 + 2.0 + 0.5 and y_high < 3.0 + 2.0 + 0.5
    assert x_low < -2.0 and y_low < -1.0


def test_figure_without_a_step_is_refused() -> None:
    problem = problem_of(dataset_of({"name": "reddi"}))
    empty = Trajectory("none", "adam", (0.0,), [], [], [], [])
    for image_format in ("png", "gif"):
        with pytest.raises(ValueError, match="no run has a step"):
            render_playground(problem, [empty], image_format=image_format)  # type: ignore[arg-type]
