"""worker.batched: members trained as one stacked model equal their solo runs (no dropout):
each member's loss at every one of the first 200 iterations to a relative 1e-4, its final
test accuracy within 0.1 points, for Adam, AdamW and AdaMax with per-member learning rates,
betas, seeds and l2; specs that cannot share a group are refused, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from core.metrics import MetricPoint
from core.spec import ExperimentSpec
from worker.batched import GroupError, group_problem, train_group
from worker.datasets import load_dataset
from worker.engine import run_experiment


class ListSink:
    def __init__(self) -> None:
        self.points: list[MetricPoint] = []

    def write(self, points: list[MetricPoint]) -> None:
        self.points += points

    def flush(self) -> None:
        pass


def spec(**overrides: Any) -> ExperimentSpec:
    body: dict[str, Any] = {
        "dataset": {"name": "digits"},
        "model": {"name": "mlp", "hidden_sizes": [32]},
        "epochs": 14,  # 15 iterations an epoch: 210 in all
        "device": "cpu",
    }
    return ExperimentSpec.model_validate(body | overrides)


def solo_losses(member: ExperimentSpec) -> tuple[list[float], float]:
    sink = ListSink()
    result = run_experiment(member, sink=sink)
    assert result.status == "succeeded", result
    return [p.value for p in sink.points if p.name == "batch_loss"], result.final_metrics[
        "test_acc"
    ]


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "adamax"])
@pytest.mark.parametrize(
    "model", [{"name": "logistic_regression"}, {"name": "mlp", "hidden_sizes": [32]}]
)
def test_a_grouped_members_curves_equal_its_solo_runs(
    optimizer: str, model: dict[str, Any]
) -> None:
    members = [
        spec(model=model, seed=0, optimizer={"name": optimizer, "lr": 0.01}),
        spec(model=model, seed=1, optimizer={"name": optimizer, "lr": 0.002, "betas": [0.8, 0.99]}),
        spec(model=model, seed=2, optimizer={"name": optimizer, "lr": 0.005, "eps": 1e-6}, l2=1e-4),
    ]
    group = train_group(members, load_dataset(members[0].dataset))
    for index, member in enumerate(members):
        losses, accuracy = solo_losses(member)
        grouped = group.batch_losses[index]
        assert len(grouped) == len(losses) == 210
        for step, (ours, theirs) in enumerate(zip(grouped[:200], losses[:200], strict=True)):
            assert ours == pytest.approx(theirs, rel=1e-4), (index, step)
        assert abs(group.test_metric[index] - accuracy) <= 0.001, (
            index,
            group.test_metric,
            accuracy,
        )


def test_members_that_cannot_share_a_group_are_refused() -> None:
    assert group_problem([spec(), spec(seed=3, optimizer={"name": "adam", "lr": 0.1})]) is None
    assert "dataset" in (
        group_problem([spec(), spec(dataset={"name": "digits", "batch_size": 8})]) or ""
    )
    assert "model" in (
        group_problem([spec(), spec(model={"name": "mlp", "hidden_sizes": [8]})]) or ""
    )
    assert "optimizer.name" in (group_problem([spec(), spec(optimizer={"name": "adamax"})]) or "")
    with pytest.raises(GroupError, match="no batched step"):
        train_group([spec(optimizer={"name": "sgd", "lr": 0.1})], load_dataset(spec().dataset))


def assert_equals_solo(group: Any, index: int, member: ExperimentSpec) -> None:
    losses, accuracy = solo_losses(member)
    assert group.batch_losses[index] == pytest.approx(losses, rel=1e-4)
    metric = group.test_metric[index]
    assert metric is not None and abs(metric - accuracy) <= 0.001


def test_one_members_nan_fails_that_member_only() -> None:
    members = [
        spec(epochs=3, seed=0, optimizer={"name": "adamw", "lr": 0.01}),
        # θ ← θ·(1 − lr·λ) = θ·(1 − 10⁶) each step: the weights overflow within a few steps.
        spec(epochs=3, seed=1, optimizer={"name": "adamw", "lr": 1000.0, "weight_decay": 1000.0}),
        spec(epochs=3, seed=2, optimizer={"name": "adamw", "lr": 0.005}),
    ]
    group = train_group(members, load_dataset(members[0].dataset))
    assert group.status == ["succeeded", "failed", "succeeded"], group.reason
    assert "training loss became" in (group.reason[1] or "")
    assert len(group.batch_losses[1]) < 45 and group.test_metric[1] is None
    assert_equals_solo(group, 0, members[0])
    assert_equals_solo(group, 2, members[2])


def test_a_member_dropped_from_the_stack_leaves_the_others_as_they_were() -> None:
    members = [
        spec(epochs=3, seed=s, optimizer={"name": "adamax", "lr": 0.002 * (s + 1)})
        for s in range(3)
    ]

    def cancel_the_second(member: int, iteration: int) -> str | None:
        return "cancelled at the user's request" if member == 1 and iteration == 20 else None

    group = train_group(members, load_dataset(members[0].dataset), stop_member=cancel_the_second)
    assert group.status == ["succeeded", "stopped", "succeeded"]
    assert len(group.batch_losses[1]) == 20 and group.test_metric[1] is None
    assert_equals_solo(group, 0, members[0])
    assert_equals_solo(group, 2, members[2])


def test_members_have_their_own_dropout_rate() -> None:
    model = {"name": "mlp", "hidden_sizes": [32]}
    members = [
        spec(epochs=3, seed=0, model=model | {"dropout": 0.0}),
        spec(epochs=3, seed=1, model=model | {"dropout": 0.5}),
    ]
    assert group_problem(members) is None
    group = train_group(members, load_dataset(members[0].dataset))
    assert_equals_solo(group, 0, members[0])  # no dropout: its solo run, to the rounding
    losses, accuracy = solo_losses(members[1])
    # With dropout the masks are the group's own: the same initialisation (the first
    # loss, before any mask changed a weight, is the solo run's), then a run of its own.
    assert group.batch_losses[1][0] == pytest.approx(losses[0], rel=0.3)
    assert group.batch_losses[1] != pytest.approx(losses, rel=1e-4)
    metric = group.test_metric[1]
    assert metric is not None and abs(metric - accuracy) < 0.1, (metric, accuracy)
