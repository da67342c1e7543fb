"""The variational autoencoder (worker/models.py ``Vae``, worker/evaluation.py
``negative_elbo``): the negative ELBO against a hand computation, the reparameterisation,
and a short run whose ELBO rises (its loss, −ELBO, falls) with every metric stored."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from core.spec import ExperimentSpec
from worker.engine import run_experiment
from worker.evaluation import negative_elbo, task_loss
from worker.models import Vae, VaeOutput
from worker.sinks import ListSink


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_negative_elbo_equals_a_hand_computation() -> None:
    # Two examples of three pixels (grey levels allowed), a two-dimensional latent.
    x = [[0.0, 1.0, 0.5], [1.0, 0.25, 0.0]]
    logits = [[-1.0, 2.0, 0.0], [0.5, -0.5, -3.0]]
    mean = [[0.3, -0.2], [1.0, 0.0]]
    log_var = [[0.0, -1.0], [0.5, 0.2]]
    expected = []
    for xs, ls, ms, vs in zip(x, logits, mean, log_var, strict=True):
        reconstruction = -sum(
            xd * math.log(_sigmoid(ld)) + (1 - xd) * math.log(1 - _sigmoid(ld))
            for xd, ld in zip(xs, ls, strict=True)
        )
        kl = -0.5 * sum(1 + v - m * m - math.exp(v) for m, v in zip(ms, vs, strict=True))
        expected.append(reconstruction + kl)
    # e.g. the first example: 0.31326 + 0.12693 + 0.69315 nats of reconstruction and
    # KL = −½·[(1 + 0 − 0.09 − 1) + (1 − 1 − 0.04 − e^−1)] = 0.24894
    assert expected[0] == pytest.approx(0.31326 + 0.12693 + 0.69315 + 0.24894, abs=1e-4)
    got = negative_elbo(
        torch.tensor(logits, dtype=torch.float64),
        torch.tensor(mean, dtype=torch.float64),
        torch.tensor(log_var, dtype=torch.float64),
        torch.tensor(x, dtype=torch.float64),
    )
    assert got.tolist() == pytest.approx(expected, rel=1e-12)
    outputs = VaeOutput(
        torch.tensor(logits, dtype=torch.float64),
        torch.tensor(mean, dtype=torch.float64),
        torch.tensor(log_var, dtype=torch.float64),
    )
    targets = torch.tensor(x, dtype=torch.float64)
    mean_loss = task_loss("generative", outputs, targets, reduction="mean")
    sum_loss = task_loss("generative", outputs, targets, reduction="sum")
    assert mean_loss.item() == pytest.approx(sum(expected) / 2, rel=1e-12)
    assert sum_loss.item() == pytest.approx(sum(expected), rel=1e-12)


def test_forward_decodes_z_drawn_by_the_reparameterisation() -> None:
    torch.manual_seed(0)
    vae = Vae(in_features=6, hidden_size=5, latent_size=3)
    inputs = torch.rand(4, 1, 2, 3)
    torch.manual_seed(7)
    outputs = vae(inputs)
    statistics = vae.encoder(inputs.flatten(1))
    mean, log_var = statistics[:, :3], statistics[:, 3:]
    torch.manual_seed(7)
    z = mean + torch.exp(0.5 * log_var) * torch.randn(4, 3)
    assert torch.equal(outputs.mean, mean) and torch.equal(outputs.log_var, log_var)
    assert torch.allclose(outputs.logits, vae.decoder(z))
    assert outputs.logits.shape == (4, 6)
    # z is a differentiable function of μ and log σ²: the loss reaches the encoder.
    negative_elbo(*outputs, inputs.flatten(1)).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in vae.encoder.parameters())


def _vae_spec(**overrides: object) -> ExperimentSpec:
    body = {
        "dataset": {"name": "digits", "batch_size": 64, "test_limit": 300},
        "model": {"name": "vae", "hidden_size": 64, "latent_size": 8},
        "optimizer": {"name": "adam", "lr": 3e-3},
        "epochs": 6,
        "device": "cpu",
    }
    return ExperimentSpec.model_validate(body | overrides)


def test_a_short_vae_run_raises_its_elbo_and_stores_it() -> None:
    sink = ListSink()
    result = run_experiment(_vae_spec(), sink=sink, log_every=5)
    assert result.status == "succeeded", result.error
    assert sink.names() == {
        "batch_loss", "lr", "train_elbo", "test_elbo", "epoch_time_s", "examples_per_s"
    }  # fmt: skip
    train, test = sink.values("train_elbo"), sink.values("test_elbo")
    assert len(train) == len(test) == 6
    # 64 grey-level pixels: −ELBO starts near 64·log 2 ≈ 44 nats; grey levels keep it
    # above ~25 (measured: train −36.0 → −27.1, test −30.8 → −28.3 nats).
    assert train[-1] > train[0] + 5 and test[-1] > test[0] + 1
    assert test[-1] > max(test[:2])
    losses = sink.values("batch_loss")
    assert len(losses) == 6 * math.ceil(898 / 64)
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 5
    assert all(value > 0 for value in losses)  # a negative ELBO of Bernoulli pixels
    assert result.final_metrics["test_elbo"] == test[-1]


def test_a_vae_run_repeats_itself_for_the_same_seed() -> None:
    first, second = ListSink(), ListSink()
    run_experiment(_vae_spec(epochs=2), sink=first)
    run_experiment(_vae_spec(epochs=2), sink=second)
    assert first.values("test_elbo") == second.values("test_elbo")
    assert first.values("batch_loss") == second.values("batch_loss")


def test_the_mnist_vae_of_the_paper_learns_on_a_subset() -> None:
    spec = ExperimentSpec.model_validate({
        "dataset": {"name": "mnist", "batch_size": 100, "train_limit": 1000, "test_limit": 500},
        "model": {"name": "vae"}, "optimizer": {"name": "adam", "lr": 1e-3}, "epochs": 2,
        "device": "cpu",
    })  # fmt: skip
    sink = ListSink()
    result = run_experiment(spec, sink=sink)
    assert result.status == "succeeded", result.error
    assert result.metadata["parameters"] == 784 * 500 + 500 + 500 * 100 + 100 + (
        50 * 500 + 500 + 500 * 784 + 784
    )
    test = sink.values("test_elbo")
    # 784 pixels: an untrained decoder is ~543 nats (784·log 2); two epochs of 10 steps
    # take it well below.
    assert test[-1] > test[0] and -test[-1] < 400


def test_a_resumed_vae_run_repeats_the_uninterrupted_one(tmp_path: Path) -> None:
    """The evaluation pass draws z from torch's RNG too; the checkpoint after it holds the
    RNG state, so a run resumed there draws what the uninterrupted one drew."""
    spec = _vae_spec(epochs=3)
    uninterrupted = ListSink()
    run_experiment(spec, sink=uninterrupted, checkpoint_dir=tmp_path / "straight")
    resumed = ListSink()
    folder = tmp_path / "interrupted"
    calls = {"n": 0}

    def stop_in_epoch_two() -> bool:
        calls["n"] += 1
        return calls["n"] > 15 + 3  # 15 steps an epoch (898 / 64): three steps into epoch 2

    stopped = run_experiment(
        spec, sink=resumed, checkpoint_dir=folder, should_stop=stop_in_epoch_two
    )
    assert stopped.status == "cancelled" and stopped.epochs_completed == 1
    finished = run_experiment(spec, sink=resumed, checkpoint_dir=folder)
    assert finished.status == "succeeded" and finished.resumed_from_epoch == 1
    timing = {"epoch_time_s", "examples_per_s"}
    assert [p for p in resumed.points if p.name not in timing] == [
        p for p in uninterrupted.points if p.name not in timing
    ]
