"""worker.batched: members trained as one stacked model equal their solo runs (no dropout):
each member's loss at every one of the first 200 iterations to a relative 1e-4, its final
test accuracy within 0.1 points, for Adam, AdamW and AdaMax with per-member learning rates,
betas, seeds and l2; each member writes its own points and checkpoints (in the solo format:
a member resumes from them alone, and a group resumed from them repeats the uninterrupted
group exactly); a cancel, an early stop or a NaN ends that member only; specs that cannot
share a group are refused, naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.spec import ExperimentSpec
from worker.batched import GroupError, MemberIO, group_problem, train_group
from worker.checkpoints import list_checkpoints
from worker.datasets import load_dataset
from worker.engine import run_experiment
from worker.run_result import RunResult
from worker.sinks import ListSink


def spec(**overrides: Any) -> ExperimentSpec:
    body: dict[str, Any] = {
        "dataset": {"name": "digits"},
        "model": {"name": "mlp", "hidden_sizes": [32]},
        "epochs": 14,  # 15 iterations an epoch: 210 in all
        "device": "cpu",
    }
    return ExperimentSpec.model_validate(body | overrides)


class Group:
    """A group's results with each member's sink."""

    def __init__(
        self, members: list[ExperimentSpec], io: list[MemberIO] | None = None, **options: Any
    ) -> None:
        self.io = io or [MemberIO() for _ in members]
        for one in self.io:
            if not isinstance(one.sink, ListSink):
                one.sink = ListSink()
        self.results: list[RunResult] = train_group(
            members, load_dataset(members[0].dataset), members=self.io, **options
        )

    def losses(self, index: int) -> list[float]:
        sink = self.io[index].sink
        assert isinstance(sink, ListSink)
        return [v for v in sink.values("batch_loss") if v is not None]

    def test_acc(self, index: int) -> float | None:
        return self.results[index].final_metrics.get("test_acc")

    @property
    def status(self) -> list[str]:
        return [r.status for r in self.results]


def solo_run(member: ExperimentSpec, folder: Path | None = None) -> tuple[list[float], RunResult]:
    sink = ListSink()
    result = run_experiment(member, sink=sink, checkpoint_dir=folder)
    assert result.status == "succeeded", result
    return [v for v in sink.values("batch_loss") if v is not None], result


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
    group = Group(members)
    assert group.status == ["succeeded"] * 3
    for index, member in enumerate(members):
        losses, solo = solo_run(member)
        grouped = group.losses(index)
        assert len(grouped) == len(losses) == 210
        for step, (ours, theirs) in enumerate(zip(grouped[:200], losses[:200], strict=True)):
            assert ours == pytest.approx(theirs, rel=1e-4), (index, step)
        accuracy = group.test_acc(index)
        assert accuracy is not None and abs(accuracy - solo.final_metrics["test_acc"]) <= 0.001


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize(
    "model", [{"name": "logistic_regression"}, {"name": "mlp", "hidden_sizes": [32]}]
)
def test_a_grouped_sgd_members_curves_equal_its_solo_runs(
    nesterov: bool, model: dict[str, Any]
) -> None:
    sgd = {"name": "sgd", "nesterov": nesterov}
    members = [
        spec(model=model, seed=0, optimizer=sgd | {"lr": 0.05, "momentum": 0.9}),
        spec(model=model, seed=1, optimizer=sgd | {"lr": 0.01, "momentum": 0.5,
                                                   "weight_decay": 1e-3}),
        spec(model=model, seed=2, optimizer=sgd | {"lr": 0.1, "momentum": 0.0 if not nesterov
                                                   else 0.7, "dampening": 0.0}, l2=1e-4),
    ]  # fmt: skip
    if not nesterov:
        members.append(spec(model=model, seed=3, optimizer=sgd | {"lr": 0.02, "momentum": 0.9,
                                                                  "dampening": 0.3}))  # fmt: skip
    group = Group(members)
    assert group.status == ["succeeded"] * len(members)
    for index, member in enumerate(members):
        losses, solo = solo_run(member)
        grouped = group.losses(index)
        assert len(grouped) == len(losses) == 210
        assert grouped[:200] == pytest.approx(losses[:200], rel=1e-4), index
        accuracy = group.test_acc(index)
        assert accuracy is not None and abs(accuracy - solo.final_metrics["test_acc"]) <= 0.001


def test_a_member_writes_every_metric_its_solo_run_writes() -> None:
    member = spec(epochs=2, optimizer={"name": "adam", "lr": 0.01})
    group = Group([member, spec(epochs=2, seed=5)])
    solo = ListSink()
    run_experiment(member, sink=solo)
    grouped = group.io[0].sink
    assert isinstance(grouped, ListSink)
    assert grouped.names() == solo.names()
    assert [(p.name, p.step, p.epoch) for p in grouped.points] == [
        (p.name, p.step, p.epoch) for p in solo.points
    ]
    for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
        for ours, theirs in zip(grouped.values(name), solo.values(name), strict=True):
            assert ours == pytest.approx(theirs, rel=1e-4, abs=1e-6), name


def test_members_that_cannot_share_a_group_are_refused() -> None:
    assert group_problem([spec(), spec(seed=3, optimizer={"name": "adam", "lr": 0.1})]) is None
    assert "dataset" in (
        group_problem([spec(), spec(dataset={"name": "digits", "batch_size": 8})]) or ""
    )
    assert "model" in (
        group_problem([spec(), spec(model={"name": "mlp", "hidden_sizes": [8]})]) or ""
    )
    assert "optimizer.name" in (group_problem([spec(), spec(optimizer={"name": "adamax"})]) or "")
    amsgrad = spec(optimizer={"name": "adam", "amsgrad": True})
    assert "optimizer.amsgrad" in (group_problem([spec(), amsgrad]) or "")
    with pytest.raises(GroupError, match="no batched step"):
        train_group([spec(optimizer={"name": "rmsprop"})], load_dataset(spec().dataset))
    nesterov = spec(optimizer={"name": "sgd", "momentum": 0.9, "nesterov": True})
    assert "optimizer.nesterov" in (
        group_problem([spec(optimizer={"name": "sgd", "momentum": 0.9}), nesterov]) or ""
    )


def assert_equals_solo(group: Group, index: int, member: ExperimentSpec) -> None:
    losses, solo = solo_run(member)
    assert group.losses(index) == pytest.approx(losses, rel=1e-4)
    accuracy = group.test_acc(index)
    assert accuracy is not None and abs(accuracy - solo.final_metrics["test_acc"]) <= 0.001


def test_one_members_nan_fails_that_member_only() -> None:
    members = [
        spec(epochs=3, seed=0, optimizer={"name": "adamw", "lr": 0.01}),
        # θ ← θ·(1 − lr·λ) = θ·(1 − 10⁶) each step: the weights overflow within a few steps.
        spec(epochs=3, seed=1, optimizer={"name": "adamw", "lr": 1000.0, "weight_decay": 1000.0}),
        spec(epochs=3, seed=2, optimizer={"name": "adamw", "lr": 0.005}),
    ]
    group = Group(members)
    assert group.status == ["succeeded", "failed", "succeeded"], group.results
    failed = group.results[1]
    assert "training loss became" in (failed.error or "")
    assert len(group.losses(1)) < 45 and failed.epochs_completed == 0
    assert_equals_solo(group, 0, members[0])
    assert_equals_solo(group, 2, members[2])


def test_a_cancelled_member_leaves_the_stack_and_the_others_go_on_as_they_were() -> None:
    members = [
        spec(epochs=3, seed=s, optimizer={"name": "adamax", "lr": 0.002 * (s + 1)})
        for s in range(3)
    ]
    asked = 0

    def cancel_before_the_21st_iteration() -> bool:
        nonlocal asked
        asked += 1
        return asked > 20

    io = [MemberIO(), MemberIO(should_stop=cancel_before_the_21st_iteration), MemberIO()]
    group = Group(members, io)
    assert group.status == ["succeeded", "cancelled", "succeeded"]
    assert len(group.losses(1)) == 20
    assert group.results[1].steps_completed == 20 and group.results[1].epochs_completed == 1
    assert_equals_solo(group, 0, members[0])
    assert_equals_solo(group, 2, members[2])


def test_an_early_stop_after_an_epoch_ends_that_member_only() -> None:
    members = [spec(epochs=3, seed=s, optimizer={"name": "adam", "lr": 0.01}) for s in range(2)]
    seen: list[tuple[int, float]] = []

    def stop_after_the_first(epoch: int, metrics: dict[str, float]) -> str | None:
        seen.append((epoch, metrics["test_acc"]))
        return "below the median at epoch 1"

    group = Group(members, [MemberIO(after_epoch=stop_after_the_first), MemberIO()])
    assert group.status == ["stopped", "succeeded"]
    assert group.results[0].stop_reason == "below the median at epoch 1"
    assert group.results[0].epochs_completed == 1 and len(seen) == 1
    assert len(group.losses(0)) == 15
    assert_equals_solo(group, 1, members[1])


def test_members_have_their_own_dropout_rate() -> None:
    model = {"name": "mlp", "hidden_sizes": [32]}
    members = [
        spec(epochs=3, seed=0, model=model | {"dropout": 0.0}),
        spec(epochs=3, seed=1, model=model | {"dropout": 0.5}),
    ]
    assert group_problem(members) is None
    group = Group(members)
    assert_equals_solo(group, 0, members[0])  # no dropout: its solo run, to the rounding
    losses, solo = solo_run(members[1])
    # With dropout the masks are the group's own: the same initialisation (the first
    # loss, before any mask changed a weight, is the solo run's), then a run of its own.
    assert group.losses(1)[0] == pytest.approx(losses[0], rel=0.3)
    assert group.losses(1) != pytest.approx(losses, rel=1e-4)
    accuracy = group.test_acc(1)
    assert accuracy is not None and abs(accuracy - solo.final_metrics["test_acc"]) < 0.1


def folders(tmp_path: Path, count: int, name: str) -> list[Path]:
    return [tmp_path / f"{name}-{i}" for i in range(count)]


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_a_group_stopped_mid_epoch_resumes_from_its_checkpoints_identically(
    tmp_path: Path, dropout: float
) -> None:
    model = {"name": "mlp", "hidden_sizes": [32], "dropout": dropout}
    members = [
        spec(epochs=3, seed=s, model=model, optimizer={"name": "adam", "lr": 0.003 * (s + 1)})
        for s in range(3)
    ]
    whole = Group(members, [MemberIO(folder=f) for f in folders(tmp_path, 3, "whole")])
    # The worker dies in epoch 2: every member stops there (a SIGKILL leaves the same
    # checkpoints: those of epoch 1), then a new delivery trains them as a group again.
    asked = [0, 0, 0]

    def stop_in_epoch_two(member: int) -> Any:
        def ask() -> bool:
            asked[member] += 1
            return asked[member] > 22

        return ask

    interrupted = folders(tmp_path, 3, "interrupted")
    first = Group(
        members,
        [MemberIO(folder=f, should_stop=stop_in_epoch_two(i)) for i, f in enumerate(interrupted)],
    )
    assert first.status == ["cancelled"] * 3
    assert all([p.name for p in list_checkpoints(f)] == ["epoch-0001.pt"] for f in interrupted)
    sinks = [first.io[i].sink for i in range(3)]
    resumed = Group(
        members, [MemberIO(folder=f, sink=s) for f, s in zip(interrupted, sinks, strict=True)]
    )
    assert resumed.status == ["succeeded"] * 3
    assert all(r.resumed_from_epoch == 1 for r in resumed.results)
    for index in range(3):
        assert resumed.losses(index) == whole.losses(index)
        assert resumed.results[index].final_metrics["test_acc"] == whole.test_acc(index)


@pytest.mark.parametrize(
    "optimizer", [{"name": "adamw", "lr": 0.004}, {"name": "sgd", "lr": 0.05, "momentum": 0.9}]
)
def test_a_members_group_checkpoint_resumes_it_alone(
    tmp_path: Path, optimizer: dict[str, Any]
) -> None:
    members = [spec(epochs=3, seed=s, optimizer=optimizer) for s in range(2)]
    asked = 0

    def stop_in_epoch_three() -> bool:
        nonlocal asked
        asked += 1
        return asked > 33

    group_folder = tmp_path / "member"
    Group(members, [MemberIO(folder=group_folder, should_stop=stop_in_epoch_three), MemberIO()])
    assert [p.name for p in list_checkpoints(group_folder)] == ["epoch-0001.pt", "epoch-0002.pt"]
    sink = ListSink()
    result = run_experiment(members[0], sink=sink, checkpoint_dir=group_folder)
    assert result.status == "succeeded" and result.resumed_from_epoch == 2
    losses, solo = solo_run(members[0])
    resumed = [v for v in sink.values("batch_loss") if v is not None]
    assert len(resumed) == 15  # epoch 3 alone, after the group's two
    assert resumed == pytest.approx(losses[30:], rel=1e-4)
    assert abs(result.final_metrics["test_acc"] - solo.final_metrics["test_acc"]) <= 0.001
