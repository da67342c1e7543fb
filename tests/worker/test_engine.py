"""The training loop: results, determinism, resume, cancellation, divergence, progress."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from core.metrics import MetricPoint, Progress
from tests.factories import digits_spec, linear_spec
from worker.checkpoints import list_checkpoints
from worker.engine import epoch_permutation, run_experiment
from worker.sinks import ListSink

TIMING_METRICS = {"epoch_time_s", "examples_per_s"}


def _comparable(points: list[MetricPoint]) -> list[MetricPoint]:
    return [p for p in points if p.name not in TIMING_METRICS]


def _stop_at(step: int):
    """A ``should_stop`` that asks to stop before iteration ``step``."""
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] >= step

    return should_stop


def test_tutorial_linear_regression_finds_w_2_and_b_1() -> None:
    sink = ListSink()
    result = run_experiment(linear_spec(), sink=sink)
    assert result.status == "succeeded", result.error
    assert result.steps_completed == 100
    assert result.final_metrics["w"] == pytest.approx(2.0, abs=0.1)
    assert result.final_metrics["b"] == pytest.approx(1.0, abs=0.15)
    # The noise is N(0, 1): a good fit leaves a mean squared error near 1.
    assert result.final_metrics["train_mse"] == pytest.approx(1.0, abs=0.25)
    assert len(sink.series("w")) == 100


def test_classification_run_logs_every_metric_at_the_documented_steps() -> None:
    spec = digits_spec(dataset={"name": "digits", "batch_size": 32, "train_limit": 256,
                                "test_limit": 200, "validation_size": 100})  # fmt: skip
    sink = ListSink()
    result = run_experiment(spec, sink=sink, log_every=3)
    assert result.status == "succeeded", result.error
    steps_per_epoch = 8  # 256 / 32
    assert [p.step for p in sink.series("batch_loss")] == list(range(1, 2 * steps_per_epoch + 1))
    assert sink.values("lr") == [0.01] * 8 + [pytest.approx(0.01 / math.sqrt(2))] * 8
    epoch_metrics = {"train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
                     "epoch_time_s", "examples_per_s"}  # fmt: skip
    assert sink.names() == epoch_metrics | {"batch_loss", "lr"}
    for name in epoch_metrics:
        assert [(p.step, p.epoch) for p in sink.series(name)] == [(8, 1), (16, 2)]
    assert 0.0 <= result.final_metrics["test_acc"] <= 1.0
    assert result.final_metrics["test_acc"] > 0.3  # 10 classes: chance is 0.1
    # Points go in batches: a window of 3 iterations per write, not one call per point.
    assert sink.write_calls <= 2 * (math.ceil(steps_per_epoch / 3) + 1)


def test_same_spec_and_seed_give_identical_metrics() -> None:
    first, second = ListSink(), ListSink()
    run_experiment(digits_spec(), sink=first)
    run_experiment(digits_spec(), sink=second)
    assert _comparable(first.points) == _comparable(second.points)


def test_another_seed_gives_other_metrics() -> None:
    first, second = ListSink(), ListSink()
    run_experiment(digits_spec(seed=0), sink=first)
    run_experiment(digits_spec(seed=1), sink=second)
    assert first.values("batch_loss") != second.values("batch_loss")


def test_epoch_permutation_depends_on_seed_and_epoch_only() -> None:
    assert torch.equal(epoch_permutation(3, 2, 50), epoch_permutation(3, 2, 50))
    assert not torch.equal(epoch_permutation(3, 2, 50), epoch_permutation(3, 3, 50))
    assert not torch.equal(epoch_permutation(3, 2, 50), epoch_permutation(4, 2, 50))
    assert sorted(epoch_permutation(3, 2, 50).tolist()) == list(range(50))


def test_resume_after_interruption_repeats_the_uninterrupted_metrics(tmp_path: Path) -> None:
    spec = digits_spec(epochs=3)
    uninterrupted = ListSink()
    run_experiment(spec, sink=uninterrupted, checkpoint_dir=tmp_path / "straight")

    resumed = ListSink()
    folder = tmp_path / "interrupted"
    stopped = run_experiment(spec, sink=resumed, checkpoint_dir=folder, should_stop=_stop_at(13))
    assert stopped.status == "cancelled"
    assert stopped.epochs_completed == 1 and stopped.steps_completed == 12
    assert [p.name for p in list_checkpoints(folder)] == ["epoch-0001.pt"]
    finished = run_experiment(spec, sink=resumed, checkpoint_dir=folder)
    assert finished.status == "succeeded", finished.error
    assert finished.resumed_from_epoch == 1

    assert _comparable(resumed.points) == _comparable(uninterrupted.points)
    assert finished.final_metrics["test_acc"] == uninterrupted.values("test_acc")[-1]


def test_resuming_a_finished_run_trains_nothing(tmp_path: Path) -> None:
    spec = digits_spec(epochs=1)
    first = run_experiment(spec, checkpoint_dir=tmp_path)
    sink = ListSink()
    again = run_experiment(spec, sink=sink, checkpoint_dir=tmp_path)
    assert again.status == "succeeded"
    assert sink.points == []
    assert again.final_metrics == first.final_metrics


def test_checkpoint_of_another_spec_is_refused(tmp_path: Path) -> None:
    run_experiment(digits_spec(epochs=1), checkpoint_dir=tmp_path)
    result = run_experiment(digits_spec(epochs=1, seed=7), checkpoint_dir=tmp_path)
    assert result.status == "failed"
    assert "seed" in result.error and str(tmp_path) in result.error


def test_renaming_does_not_invalidate_a_checkpoint(tmp_path: Path) -> None:
    run_experiment(digits_spec(epochs=1), checkpoint_dir=tmp_path)
    result = run_experiment(digits_spec(epochs=2, name="renamed", tags=["x"]),
                            checkpoint_dir=tmp_path)  # fmt: skip
    # epochs is a training field: a longer run of the same spec is a different spec.
    assert result.status == "failed"
    result = run_experiment(digits_spec(epochs=1, name="renamed", tags=["x"]),
                            checkpoint_dir=tmp_path)  # fmt: skip
    assert result.status == "succeeded"


def test_cancellation_is_checked_every_iteration() -> None:
    sink = ListSink()
    result = run_experiment(digits_spec(), sink=sink, should_stop=_stop_at(4), log_every=50)
    assert result.status == "cancelled"
    assert result.steps_completed == 3
    # The iterations done before the stop are written, even mid-window.
    assert [p.step for p in sink.series("batch_loss")] == [1, 2, 3]
    assert sink.series("test_acc") == []
    assert sink.flush_calls >= 1


def test_divergence_fails_with_the_step_named() -> None:
    spec = linear_spec(optimizer={"name": "sgd", "lr": 10.0}, epochs=400)
    sink = ListSink()
    result = run_experiment(spec, sink=sink, log_every=7)
    assert result.status == "failed"
    named = re.search(r"at step (\d+) ", result.error)
    assert named, result.error
    bad_step = int(named.group(1))
    assert result.steps_completed == bad_step < 400
    # Everything written is finite and measured before the bad step (or, for a per-epoch
    # evaluation that overflowed, at the step whose update caused it).
    assert all(math.isfinite(p.value) for p in sink.points)
    assert max(p.step for p in sink.points) <= bad_step
    assert sink.series("batch_loss")[-1].step >= bad_step - 1


def test_progress_reports_are_ordered_and_end_complete() -> None:
    reports: list[Progress] = []
    run_experiment(digits_spec(), on_progress=reports.append, log_every=3)
    assert reports, "no progress reported"
    steps = [r.step for r in reports]
    assert steps == sorted(steps)
    last = reports[-1]
    assert (last.epoch, last.epochs, last.step, last.total_steps) == (2, 2, 16, 16)
    assert last.fraction == 1.0 and last.eta_s == 0.0
    assert all(0.0 < r.fraction <= 1.0 for r in reports)
    assert all(r.eta_s is not None and r.eta_s >= 0.0 for r in reports)


def test_l2_term_is_in_the_objective_but_not_in_train_loss() -> None:
    sink = ListSink()
    run_experiment(digits_spec(epochs=1, l2=1.0), sink=sink)
    plain = ListSink()
    run_experiment(digits_spec(epochs=1), sink=plain)
    # Same initialisation and batch: the first objective differs by exactly λ‖Θ‖² > 0.
    assert sink.values("batch_loss")[0] > plain.values("batch_loss")[0] + 1.0
    assert sink.values("train_loss")[0] < sink.values("batch_loss")[0]


def test_logistic_regression_and_cnn_learn_on_an_mnist_subset() -> None:
    for model, optimizer in (
        ({"name": "logistic_regression"}, {"name": "adamax", "lr": 0.01}),
        ({"name": "cnn", "channels": [8, 16], "hidden_size": 64, "dropout": 0.25},
         {"name": "adam", "lr": 0.003}),
    ):  # fmt: skip
        spec = digits_spec(
            dataset={"name": "mnist", "batch_size": 32, "train_limit": 1024, "test_limit": 256},
            model=model, optimizer=optimizer, epochs=2,
        )  # fmt: skip
        result = run_experiment(spec)
        assert result.status == "succeeded", result.error
        assert result.final_metrics["test_acc"] > 0.6, model  # 10 classes: chance is 0.1


def test_missing_cuda_is_a_failed_run_with_a_message() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    result = run_experiment(digits_spec(device="cuda"))
    assert result.status == "failed"
    assert "CUDA is not available" in result.error


def test_auto_device_falls_back_to_cpu_without_cuda() -> None:
    result = run_experiment(digits_spec(device="auto", epochs=1))
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert result.device == expected


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_matches_cpu_within_float_noise() -> None:
    cpu, cuda = ListSink(), ListSink()
    run_experiment(digits_spec(device="cpu", model={"name": "mlp", "hidden_sizes": [32]}),
                   sink=cpu)  # fmt: skip
    run_experiment(digits_spec(device="cuda", model={"name": "mlp", "hidden_sizes": [32]}),
                   sink=cuda)  # fmt: skip
    assert cpu.values("batch_loss") == pytest.approx(cuda.values("batch_loss"), rel=1e-3)


def test_channels_last_cnn_equals_the_plain_memory_order_up_to_rounding() -> None:
    spec = digits_spec(
        dataset={"name": "mnist", "batch_size": 32, "train_limit": 256, "test_limit": 128},
        model={"name": "cnn", "channels": [8, 16], "hidden_size": 32, "dropout": 0.25},
        epochs=2,
    )
    fast, plain = ListSink(), ListSink()
    run_experiment(spec, sink=fast, channels_last=True)
    run_experiment(spec, sink=plain, channels_last=False)
    for name in ("batch_loss", "train_loss", "test_loss", "test_acc"):
        assert fast.values(name) == pytest.approx(plain.values(name), rel=1e-4, abs=1e-6), name
