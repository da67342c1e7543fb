"""core/sweeps/report.py (with timing.py and report_csv.py) and core/plots/sweep_report.py:
the report's numbers against hand computations, its JSON and CSV, and its figure."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from core.metrics import MetricSeries
from core.plots.sweep_report import (
    MAX_CURVES,
    MAX_RANKED,
    configuration_label,
    sweep_report_figure,
)
from core.sweeps.report import Goal, MemberResult, SweepReport, build_report
from core.sweeps.report_csv import csv_columns

STEPS_PER_EPOCH = 10


def _member(
    experiment_id: str,
    config: str,
    seed: int,
    values: Sequence[float | None],
    *,
    status: str = "succeeded",
    stop_reason: str | None = None,
    optimizer: str = "adam",
    lr: float = 1e-3,
    task: str = "mnist/mlp",
    params: Mapping[str, object] | None = None,
    batch_size: int = 100,
    train_examples: int | None = 1000,
    epoch_seconds: Sequence[float | None] | None = None,
) -> MemberResult:
    epochs = list(range(1, len(values) + 1))
    steps = [epoch * STEPS_PER_EPOCH for epoch in epochs]
    seconds = None
    if epoch_seconds is not None:
        seconds_epochs = list(range(1, len(epoch_seconds) + 1))
        seconds = MetricSeries(
            [e * STEPS_PER_EPOCH for e in seconds_epochs], seconds_epochs, epoch_seconds
        )
    return MemberResult(
        experiment_id=experiment_id,
        config_key=config,
        params=dict(params or {"optimizer.name": optimizer, "optimizer.lr": lr}),
        seed=seed,
        status=status,
        stop_reason=stop_reason,
        optimizer=optimizer,
        lr=lr,
        task=task,
        batch_size=batch_size,
        train_examples=train_examples,
        curve=MetricSeries(steps, epochs, values),
        epoch_seconds=seconds,
    )


def _config(config: str, finals: list[float], **kwargs: Any) -> list[MemberResult]:
    """One member per final value (seeds 0, 1, ...), each curve rising to its final."""
    return [
        _member(f"{config}-{seed}", config, seed, [final / 2, final], **kwargs)
        for seed, final in enumerate(finals)
    ]


def _three_configs() -> list[MemberResult]:
    return (
        _config("a", [0.90, 0.92, 0.91, 0.50], lr=1e-3)
        + _config("b", [0.95, 0.94, 0.96, 0.93], lr=1e-2)
        + _config("c", [0.80, 0.81, 0.82, 0.83], optimizer="adamax", lr=2e-3)
    )


def test_report_ranks_by_iqm_when_maximizing() -> None:
    report = build_report(_three_configs(), metric="test_acc", goal="maximize")
    keys = [c.config_key for c in report.configurations]
    assert keys == ["b", "a", "c"]
    assert [c.rank for c in report.configurations] == [1, 2, 3]
    a = report.configurations[1]
    assert a.iqm == pytest.approx(np.mean([0.90, 0.91]))  # n = 4: drop 0.50 and 0.92
    assert a.mean == pytest.approx(np.mean([0.90, 0.92, 0.91, 0.50]))
    assert a.median == pytest.approx(np.median([0.90, 0.92, 0.91, 0.50]))
    assert a.ci_low is not None and a.ci_high is not None and a.iqm is not None
    assert a.ci_low <= a.iqm <= a.ci_high
    assert report.best is not None
    assert report.best.config_key == "b"
    assert report.best.value == pytest.approx(np.mean([0.94, 0.95]))
    assert report.best.member_ids == ["b-0", "b-1", "b-2", "b-3"]
    assert report.best.params == {"optimizer.name": "adam", "optimizer.lr": 1e-2}


def test_report_ranks_lowest_first_when_minimizing() -> None:
    report = build_report(_three_configs(), metric="test_loss", goal="minimize")
    assert [c.config_key for c in report.configurations] == ["c", "a", "b"]
    assert report.best is not None and report.best.config_key == "c"


def test_report_breaks_ties_by_config_key() -> None:
    members = _config("z", [0.5, 0.5]) + _config("y", [0.5, 0.5]) + _config("x", [0.4, 0.4])
    cases: list[tuple[Goal, list[str]]] = [
        ("maximize", ["y", "z", "x"]),
        ("minimize", ["x", "y", "z"]),
    ]
    for goal, expected in cases:
        report = build_report(members, metric="test_acc", goal=goal)
        assert [c.config_key for c in report.configurations] == expected


def test_stopped_members_are_listed_but_not_in_the_statistics() -> None:
    members = _config("a", [0.90, 0.92, 0.94]) + [
        _member("a-stop", "a", 3, [0.10], status="stopped", stop_reason="asha: rung 1"),
        _member("a-fail", "a", 4, [], status="failed"),
        _member("a-run", "a", 5, [0.99], status="running"),
    ]
    report = build_report(members, metric="test_acc", goal="maximize")
    (config,) = report.configurations
    assert config.n == 3
    assert config.iqm == pytest.approx(0.92)
    assert config.seed_values() == {0: 0.90, 1: 0.92, 2: 0.94}
    listed = {m.experiment_id: m for m in config.members}
    assert set(listed) == {"a-0", "a-1", "a-2", "a-stop", "a-fail", "a-run"}
    stopped = listed["a-stop"]
    assert (stopped.status, stopped.stop_reason, stopped.final) == ("stopped", "asha: rung 1", 0.1)
    assert not stopped.in_statistics and not listed["a-run"].in_statistics
    assert report.counts == {"queued": 0, "running": 1, "succeeded": 3, "failed": 1,
                             "cancelled": 0, "stopped": 1}  # fmt: skip


def test_a_configuration_without_a_value_is_ranked_last_without_rank() -> None:
    members = _config("good", [0.9, 0.8]) + [
        _member("bad-0", "bad", 0, [0.2, None]),  # diverged: the last value is not finite
        _member("bad-1", "bad", 1, [], status="failed"),
    ]
    report = build_report(members, metric="test_acc", goal="maximize")
    bad = report.configurations[-1]
    assert (bad.config_key, bad.rank, bad.n, bad.iqm, bad.ci_low) == ("bad", None, 0, None, None)
    data = report.to_json()
    assert data["configurations"][-1]["iqm"] is None
    json.dumps(data, allow_nan=False)


def test_a_single_seed_has_no_interval() -> None:
    report = build_report(_config("a", [0.7]), metric="test_acc", goal="maximize")
    (config,) = report.configurations
    assert (config.n, config.iqm, config.ci_low, config.ci_high) == (1, 0.7, None, None)


def test_sensitivity_takes_the_best_configuration_at_a_shared_lr() -> None:
    dropout = {"optimizer.name": "adam", "optimizer.lr": 1e-3, "model.dropout": 0.5}
    members = (
        _config("adam-3", [0.80, 0.85, 0.90], lr=1e-3)
        + _config("adam-3-dropout", [0.90, 0.92, 0.97], lr=1e-3, params=dropout)
        + _config("adam-2", [0.60, 0.70, 0.65], lr=1e-2)
        + _config("adamax-3", [0.5, 0.6], optimizer="adamax", lr=1e-3)
    )
    report = build_report(members, metric="test_acc", goal="maximize")
    by_optimizer = {(s.task, s.optimizer): s.points for s in report.sensitivity}
    assert set(by_optimizer) == {("mnist/mlp", "adam"), ("mnist/mlp", "adamax")}
    adam = by_optimizer[("mnist/mlp", "adam")]
    assert [p.lr for p in adam] == [1e-3, 1e-2]
    assert adam[0].config_key == "adam-3-dropout"
    q25, median, q75 = np.percentile([0.90, 0.92, 0.97], [25, 50, 75])
    assert (adam[0].q25, adam[0].median, adam[0].q75, adam[0].n) == pytest.approx(
        (q25, median, q75, 3)
    )
    assert adam[1].median == pytest.approx(0.65)
    worse = build_report(members, metric="test_loss", goal="minimize").sensitivity
    assert worse[0].points[0].config_key == "adam-3"  # lower is better now


def test_learning_curves_are_quartiles_by_epoch_with_stopped_members() -> None:
    members = [
        _member("a-0", "a", 0, [0.1, 0.5, 0.7]),
        _member("a-1", "a", 1, [0.3, 0.6, 0.8]),
        _member("a-2", "a", 2, [0.2], status="stopped"),
        _member("a-3", "a", 3, [0.9, 0.9, 0.9], status="failed"),  # not drawn
    ]
    (curve,) = build_report(members, metric="test_acc", goal="maximize").curves
    assert curve.epochs == [1, 2, 3]
    assert curve.n == [3, 2, 2]
    assert curve.median == pytest.approx([0.2, 0.55, 0.75])
    assert curve.q25 == pytest.approx([np.percentile([0.1, 0.3, 0.2], 25), 0.525, 0.725])
    assert curve.q75 == pytest.approx([np.percentile([0.1, 0.3, 0.2], 75), 0.575, 0.775])


def test_time_to_target_in_steps_examples_and_seconds() -> None:
    members = [
        # reaches 0.9 at epoch 2: step 20, 20 × 128 = 2560 examples capped at 2 × 1000
        _member("a-0", "a", 0, [0.5, 0.92, 0.95], batch_size=128, epoch_seconds=[3.0, 4.0, 5.0]),
        _member("a-1", "a", 1, [0.5, 0.6, 0.91], batch_size=128, epoch_seconds=[3.0, 4.0, 5.0]),
        _member("a-2", "a", 2, [0.5, 0.6, 0.7], batch_size=128, epoch_seconds=[3.0, 4.0, 5.0]),
    ]
    report = build_report(members, metric="test_acc", goal="maximize", target=0.9)
    assert report.time_to_target is not None
    (timed,) = report.time_to_target
    assert (timed.members, timed.reached) == (3, 2)
    first = timed.per_member[0]
    assert (first.epoch, first.step, first.examples, first.seconds) == (2, 20, 2000, 7.0)
    never = timed.per_member[2]
    assert (never.epoch, never.step, never.examples, never.seconds) == (None,) * 4
    # medians with the member that never reached as infinity: of (20, 30, inf) and so on
    assert (timed.steps_median, timed.examples_median, timed.seconds_median) == (30, 3000, 12.0)


def test_time_to_target_median_needs_more_than_half_the_members() -> None:
    members = [_member("a-0", "a", 0, [0.1, 0.05]), _member("a-1", "a", 1, [0.9, 0.8])]
    report = build_report(members, metric="test_loss", goal="minimize", target=0.1)
    assert report.time_to_target is not None
    (timed,) = report.time_to_target
    assert timed.reached == 1 and timed.per_member[0].step == 10
    assert timed.steps_median is None  # median of (10, inf)
    assert timed.seconds_median is None  # no epoch times


def test_examples_without_train_examples_are_step_times_batch() -> None:
    members = [_member("a-0", "a", 0, [0.1, 0.95], batch_size=128, train_examples=None)]
    report = build_report(members, metric="test_acc", goal="maximize", target=0.9)
    assert report.time_to_target is not None
    assert report.time_to_target[0].per_member[0].examples == 20 * 128


def _brute_improvement(xs: list[float], ys: list[float]) -> float:
    pairs = list(itertools.product(xs, ys))
    return sum(1.0 if x > y else 0.5 if x == y else 0.0 for x, y in pairs) / len(pairs)


def test_probability_of_improvement_uses_each_optimizers_best_configuration() -> None:
    members = (
        _config("adam-good", [0.90, 0.80, 0.85], lr=1e-3)
        + _config("adam-bad", [0.10, 0.20, 0.15], lr=1.0)
        + _config("adamax", [0.82, 0.88, 0.70], optimizer="adamax", lr=2e-3)
    )
    report = build_report(members, metric="test_acc", goal="maximize")
    pairs = {(p.x, p.y): p for p in report.probability_of_improvement}
    assert set(pairs) == {("adam", "adamax"), ("adamax", "adam")}
    expected = _brute_improvement([0.90, 0.80, 0.85], [0.82, 0.88, 0.70])
    forward = pairs[("adam", "adamax")]
    assert forward.value == pytest.approx(expected)
    assert forward.tasks == ["mnist/mlp"]
    assert pairs[("adamax", "adam")].value == pytest.approx(1 - expected)
    assert forward.ci_low is not None and forward.ci_high is not None
    assert forward.ci_low <= forward.value <= forward.ci_high


def _two_tasks() -> list[MemberResult]:
    # reaching 0.9 (10 steps an epoch): adam at step 10 on mnist and 30 on fashion, adamax at
    # step 20 on both
    rows = [
        ("adam", "mnist/mlp", [0.95, 0.96, 0.97]),
        ("adamax", "mnist/mlp", [0.5, 0.95, 0.96]),
        ("adam", "fashion/mlp", [0.5, 0.6, 0.95]),
        ("adamax", "fashion/mlp", [0.5, 0.95, 0.96]),
    ]
    members = []
    for optimizer, task, values in rows:
        key = f"{optimizer}@{task}"
        params = {"optimizer.name": optimizer, "dataset.name": task.split("/")[0]}
        for seed in (0, 1):
            members.append(_member(f"{key}-{seed}", key, seed, values, optimizer=optimizer,
                                   task=task, params=params))  # fmt: skip
    return members


def test_performance_profile_over_two_tasks() -> None:
    report = build_report(_two_tasks(), metric="test_acc", goal="maximize", target=0.9)
    profile = report.performance_profile
    assert profile is not None
    assert profile.tasks == ["fashion/mlp", "mnist/mlp"]
    assert profile.times == {"adam": [30.0, 10.0], "adamax": [20.0, 20.0]}
    # ratios: adam (1.5, 1), adamax (1, 2)
    at = {tau: i for i, tau in enumerate(profile.taus)}
    assert {1.0, 1.5, 2.0, 4.0} <= set(at)
    assert profile.taus == sorted(profile.taus)
    for tau, adam, adamax in ((1.0, 0.5, 0.5), (1.45, 0.5, 0.5), (1.5, 1.0, 0.5), (2.0, 1.0, 1.0)):
        assert profile.methods["adam"][at[tau]] == adam
        assert profile.methods["adamax"][at[tau]] == adamax


def test_performance_profile_needs_a_target_and_two_tasks() -> None:
    without_target = build_report(_two_tasks(), metric="test_acc", goal="maximize")
    assert without_target.performance_profile is None
    one_task = [m for m in _two_tasks() if m.task == "mnist/mlp"]
    report = build_report(one_task, metric="test_acc", goal="maximize", target=0.9)
    assert report.performance_profile is None
    assert report.to_json()["performance_profile"] is None


def test_json_names_every_part_and_is_strict_json() -> None:
    report = build_report(_two_tasks(), metric="test_acc", goal="maximize", target=0.9)
    data = report.to_json()
    assert set(data) == {"metric", "goal", "target", "confidence", "counts", "configurations",
                         "best", "sensitivity", "curves", "time_to_target",
                         "probability_of_improvement", "performance_profile"}  # fmt: skip
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["best"]["config_key"] == report.configurations[0].config_key
    assert data["time_to_target"][0]["steps_median"] == 10.0


def _csv_rows(report: SweepReport) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(report.to_csv())))


def test_csv_has_one_row_per_configuration_matching_the_json() -> None:
    members = _three_configs() + [_member("a-x", "a", 9, [0.3], status="stopped")]
    report = build_report(members, metric="test_acc", goal="maximize", target=0.9)
    rows = _csv_rows(report)
    assert list(rows[0]) == csv_columns(report)
    assert csv_columns(report) == [
        "rank", "config_key", "optimizer.name", "optimizer.lr", "optimizer", "lr", "task", "n",
        "seed_0", "seed_1", "seed_2", "seed_3", "median", "iqm", "mean", "ci_low", "ci_high",
        "reached", "steps_to_target", "examples_to_target", "seconds_to_target",
    ]  # fmt: skip
    data = report.to_json()
    assert len(rows) == len(data["configurations"])
    times = {t["config_key"]: t for t in data["time_to_target"]}
    for row, config in zip(rows, data["configurations"], strict=True):
        assert row["config_key"] == config["config_key"]
        assert int(row["rank"]) == config["rank"] and int(row["n"]) == config["n"]
        assert row["optimizer.name"] == config["params"]["optimizer.name"]
        assert float(row["optimizer.lr"]) == config["params"]["optimizer.lr"]
        for name in ("iqm", "median", "mean", "ci_low", "ci_high", "lr"):
            assert float(row[name]) == config[name]
        finals = {m["seed"]: m["final"] for m in config["members"] if m["in_statistics"]}
        assert {int(k[5:]): float(v) for k, v in row.items() if k.startswith("seed_")} == finals
        timed = times[config["config_key"]]
        assert int(row["reached"]) == timed["reached"]
        steps = timed["steps_median"]
        assert row["steps_to_target"] == ("" if steps is None else repr(float(steps)))
    assert "seed_9" not in rows[0]  # the stopped member's seed is not a value


def test_csv_leaves_missing_values_empty() -> None:
    members = _config("a", [0.5]) + [_member("b-0", "b", 0, [], status="failed")]
    rows = _csv_rows(build_report(members, metric="test_acc", goal="maximize"))
    assert rows[1]["config_key"] == "b"
    assert (rows[1]["rank"], rows[1]["iqm"], rows[1]["seed_0"]) == ("", "", "")
    assert rows[0]["ci_low"] == "" and rows[0]["iqm"] == "0.5"
    assert "steps_to_target" not in rows[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"metric": "accuracy", "goal": "maximize"}, "unknown metric"),
     ({"metric": "test_acc", "goal": "up"}, "goal")],
)  # fmt: skip
def test_report_refuses_an_unknown_metric_or_goal(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_report(_config("a", [0.5]), **kwargs)


def test_report_refuses_a_member_given_twice() -> None:
    member = _member("a-0", "a", 0, [0.5])
    with pytest.raises(ValueError, match="once"):
        build_report([member, member], metric="test_acc", goal="maximize")
    with pytest.raises(ValueError, match="seed twice"):
        twin = _member("a-1", "a", 0, [0.6])
        build_report([member, twin], metric="test_acc", goal="maximize")


def test_empty_sweep_reports_nothing_yet() -> None:
    report = build_report([], metric="test_acc", goal="maximize", target=0.9)
    assert (report.best, report.configurations, report.sensitivity) == (None, [], [])
    assert report.counts["succeeded"] == 0
    assert report.to_csv().strip().split(",")[0] == "rank"
    assert math.isclose(report.confidence, 0.95)


# --- the figure -------------------------------------------------------------------------------


def _svg_ids(svg: bytes, prefix: str) -> list[str]:
    return re.findall(rf'<g id="({prefix}:[^"]*)"', svg.decode())


def test_figure_is_a_png_and_an_svg_with_each_part() -> None:
    report = build_report(_two_tasks(), metric="test_acc", goal="maximize", target=0.9)
    assert sweep_report_figure(report, fmt="png").startswith(b"\x89PNG\r\n\x1a\n")
    svg = sweep_report_figure(report, fmt="svg")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg
    assert sorted(_svg_ids(svg, "sensitivity")) == [
        "sensitivity:fashion/mlp:adam", "sensitivity:fashion/mlp:adamax",
        "sensitivity:mnist/mlp:adam", "sensitivity:mnist/mlp:adamax",
    ]  # fmt: skip
    keys = [c.config_key for c in report.configurations]
    assert _svg_ids(svg, "rank") == [f"rank:{key}" for key in keys]
    assert sorted(_svg_ids(svg, "curve")) == sorted(f"curve:{key}" for key in keys)


def test_figure_of_one_configuration_with_one_seed_draws() -> None:
    report = build_report([_member("a-0", "a", 0, [0.5, 0.7])], metric="test_loss", goal="minimize")
    svg = sweep_report_figure(report, fmt="svg")
    assert _svg_ids(svg, "rank") == ["rank:a"] and _svg_ids(svg, "curve") == ["curve:a"]


def test_figure_of_thirty_configurations_draws_the_best_few() -> None:
    members = []
    for index in range(30):
        optimizer = ("adam", "adamax", "sgd")[index % 3]
        lr, dropout = 10.0 ** -(1 + index % 5), 0.1 * (index // 5)
        params = {"optimizer.name": optimizer, "optimizer.lr": lr, "model.dropout": dropout}
        finals = [0.5 + 0.01 * index, 0.52 + 0.01 * index]
        members += _config(f"c{index:02d}", finals, optimizer=optimizer, lr=lr, params=params)
    report = build_report(members, metric="test_acc", goal="maximize")
    svg = sweep_report_figure(report, fmt="svg")
    best = [f"c{index:02d}" for index in range(29, -1, -1)]
    assert _svg_ids(svg, "curve") == [f"curve:{key}" for key in best[:MAX_CURVES]]
    assert _svg_ids(svg, "rank") == [f"rank:{key}" for key in best[:MAX_RANKED]]
    assert sweep_report_figure(report, fmt="png").startswith(b"\x89PNG")


def test_figure_of_a_sweep_without_results_draws_empty_panels() -> None:
    report = build_report([_member("a-0", "a", 0, [], status="running")],
                          metric="test_acc", goal="maximize")  # fmt: skip
    assert sweep_report_figure(report, fmt="png").startswith(b"\x89PNG")


def test_figure_refuses_another_format() -> None:
    report = build_report(_config("a", [0.5]), metric="test_acc", goal="maximize")
    with pytest.raises(ValueError, match="fmt"):
        sweep_report_figure(report, fmt="jpg")  # type: ignore[arg-type]


def test_configuration_label_names_the_swept_params() -> None:
    params = {"optimizer.name": "adamax", "optimizer.lr": 0.002, "model.dropout": 0.25}
    (config,) = build_report(_config("a", [0.5], optimizer="adamax", lr=0.002, params=params),
                             metric="test_acc", goal="maximize").configurations  # fmt: skip
    assert configuration_label(config) == "AdaMax, lr 0.002, dropout=0.25"
    assert configuration_label(config, with_task=True).endswith(", mnist/mlp")
