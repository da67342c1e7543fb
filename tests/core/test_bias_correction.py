"""The bias-correction preset (core/sweeps/presets.py) as the 60 experiments it expands to,
and its figure (core/plots/bias_correction.py) from a sweep's report: one panel per β1,
one line per β2 and bias-correction switch, a cross where a configuration diverged."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import replace

import pytest

from core.metrics import MetricSeries
from core.plots.bias_correction import (
    BiasCorrectionPoint,
    NotABiasCorrectionSweepError,
    bias_correction_figure,
    drawn_figure,
    points_from_report,
)
from core.spec import AdamOptimizer, MlpModel, VaeModel
from core.sweeps.grouping import group_keys, group_signature
from core.sweeps.presets import PRESETS, bias_correction
from core.sweeps.report import MemberResult, build_report
from core.sweeps.space import definition_problems, grid, member_spec
from core.sweeps.spec import SweepSpec

GRID = list(
    itertools.product(
        (0.0, 0.9), (0.99, 0.999, 0.9999), (1e-5, 1e-4, 1e-3, 1e-2, 1e-1), (True, False)
    )
)


def test_the_preset_expands_to_60_members_over_the_papers_grid() -> None:
    sweep = SweepSpec.model_validate(bias_correction())
    assert definition_problems(sweep, limits=None) == []
    specs = [member_spec(sweep, config, seed) for config in grid(sweep) for seed in sweep.seed_list]
    assert len(specs) == 60
    optimizers = [spec.optimizer for spec in specs]
    assert all(isinstance(o, AdamOptimizer) for o in optimizers)
    seen = sorted(
        (o.betas[0], o.betas[1], o.lr, o.bias_correction)
        for o in optimizers
        if isinstance(o, AdamOptimizer)
    )
    assert seen == sorted(GRID)
    for spec in specs:
        assert spec.model == VaeModel(name="vae", hidden_size=500, latent_size=50)
        assert (spec.dataset.name, spec.dataset.batch_size, spec.epochs) == ("mnist", 100, 10)
        assert spec.schedule.name == "constant" and spec.optimizer.eps == 1e-8
    assert sweep.metric.name == "test_elbo" and sweep.metric.maximize


def test_the_preset_takes_epochs_seeds_and_a_subset() -> None:
    body = bias_correction(seeds=[3], epochs=2, train_limit=500, test_limit=100)
    assert json.loads(json.dumps(body)) == body
    sweep = SweepSpec.model_validate(body)
    spec = member_spec(sweep, grid(sweep)[0], 3)
    assert (spec.epochs, spec.seed) == (2, 3)
    assert (spec.dataset.train_examples(), spec.dataset.test_limit) == (500, 100)
    assert PRESETS["bias-correction"] is bias_correction


def _members(loss_of: dict[tuple[float, float, float, bool], float | None]) -> list[MemberResult]:
    members = []
    for index, ((beta1, beta2, lr, corrected), loss) in enumerate(loss_of.items()):
        params = {
            "optimizer.betas": [beta1, beta2],
            "optimizer.lr": lr,
            "optimizer.bias_correction": corrected,
        }
        values = [None] if loss is None else [-loss - 10, -loss]
        members.append(
            MemberResult(
                experiment_id=f"e{index}", config_key=f"c{index}", params=params, seed=0,
                status="failed" if loss is None else "succeeded", stop_reason=None,
                optimizer="adam", lr=lr, task="mnist/vae", batch_size=100,
                train_examples=1000, curve=MetricSeries(list(range(1, len(values) + 1)),
                                                        list(range(1, len(values) + 1)), values),
                epoch_seconds=None,
            )
        )  # fmt: skip
    return members


def test_the_figures_points_are_the_reports_losses() -> None:
    loss_of = {key: 100.0 + i for i, key in enumerate(GRID)}
    loss_of[(0.9, 0.9999, 1e-1, False)] = None  # diverged
    report = build_report(_members(loss_of), metric="test_elbo", goal="maximize")
    points = points_from_report(report)
    assert len(points) == 60
    by_key = {(p.beta1, p.beta2, p.lr, p.bias_correction): p for p in points}
    assert {key: by_key[key].loss for key in GRID} == pytest.approx(loss_of)
    assert [key for key, p in by_key.items() if p.diverged] == [(0.9, 0.9999, 1e-1, False)]
    # After epoch 1 each curve stood 10 nats of loss higher (``_members``); epoch 3 is
    # beyond every curve.
    first = {(p.beta1, p.beta2, p.lr, p.bias_correction): p.loss
             for p in points_from_report(report, epoch=1)}  # fmt: skip
    assert first == pytest.approx({k: None if v is None else v + 10 for k, v in loss_of.items()})
    assert {p.loss for p in points_from_report(report, epoch=3)} == {None}


def test_the_figure_has_a_line_per_beta2_and_switch_in_a_panel_per_beta1() -> None:
    points = [
        BiasCorrectionPoint(b1, b2, lr, corrected, None if lr == 1e-1 else 100.0 + lr * 1e3,
                            diverged=lr == 1e-1)
        for b1, b2, lr, corrected in GRID
    ]  # fmt: skip
    svg = bias_correction_figure(points, fmt="svg").decode()
    lines = set(re.findall(r'id="bias-correction:([^"]+)"', svg))
    assert lines == {
        f"{b1:g}:{b2:g}:{int(c)}" for b1, b2, _lr, c in GRID
    }  # 2 panels × 3 β2 × with/without
    assert "β1 = 0.9" in svg and "diverged" in svg
    assert bias_correction_figure(points, fmt="png").startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="no configuration"):
        bias_correction_figure([], fmt="png")


def test_over_one_panel_the_title_fits_the_figure_beside_the_legend() -> None:
    points = [
        BiasCorrectionPoint(0.9, b2, lr, corrected, 100.0, diverged=lr == 1e-2)
        for _b1, b2, lr, corrected in GRID
        if lr in (1e-3, 1e-2)
    ]
    title = "Sweep 'bias-correction': bias correction (Kingma & Ba 2015, Figure 4), after epoch 10"
    figure = drawn_figure(points, title=title)
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)  # constrained layout places everything on a draw
    title_box = figure._suptitle.get_window_extent(renderer)
    legend_box = figure.legends[0].get_window_extent(renderer)
    assert title_box.x0 >= 0 and title_box.x1 <= figure.bbox.x1, (title_box, figure.bbox)
    assert not title_box.overlaps(legend_box), (title_box, legend_box)


def test_a_sweep_that_does_not_vary_bias_correction_has_no_such_figure() -> None:
    member = _members({(0.9, 0.999, 1e-3, True): 100.0})[0]
    plain = replace(member, params={"optimizer.lr": 1e-3})
    report = build_report([plain], metric="test_elbo", goal="maximize")
    with pytest.raises(NotABiasCorrectionSweepError, match="optimizer.bias_correction"):
        points_from_report(report)


def test_the_presets_members_train_alone_as_the_batched_step_has_no_vae() -> None:
    sweep = SweepSpec.model_validate(bias_correction())
    specs = [member_spec(sweep, config, 0) for config in grid(sweep)]
    assert group_keys(specs, group_size=None, round_index=0) == [None] * 60
    mlp = specs[0].model_copy(update={"model": MlpModel(name="mlp"), "dataset": specs[0].dataset})
    assert group_signature(mlp) is not None
