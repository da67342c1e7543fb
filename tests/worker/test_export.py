"""worker/export.py: a run's final weights as safetensors, reloaded into the engine's model
with the spec from the file's metadata, give the run's reported test accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from core.spec import ExperimentSpec
from tests.factories import digits_spec
from worker.datasets import load_dataset
from worker.engine import run_experiment
from worker.export import (
    FINAL_WEIGHTS_NAME,
    ExportError,
    export_final_weights,
    read_final_weights_metadata,
)
from worker.models import build_model


def reloaded_test_accuracy(path: Path, *, channels_last: bool) -> float:
    """Build the model from the spec in the file's metadata, load the tensors, and
    measure the accuracy on the spec's test split (eval mode, float64 ratio)."""
    spec = ExperimentSpec.model_validate_json(read_final_weights_metadata(path)["spec"])
    data = load_dataset(spec.dataset)
    model = build_model(spec.model, data.input_shape, data.num_outputs)
    model.load_state_dict(load_file(path))  # strict: every tensor, nothing missing
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.eval()
    assert data.test is not None
    with torch.no_grad():
        predicted = model(data.test.inputs).argmax(dim=1)
    correct = (predicted == data.test.targets).sum()
    return (correct.to(torch.float64) / len(data.test)).item()


CNN_OVERRIDES = {
    "model": {"name": "cnn", "channels": [8, 16], "hidden_size": 32, "dropout": 0.2},
    "dataset": {"name": "digits", "batch_size": 32},
    "optimizer": {"name": "adam", "lr": 0.01},
    "epochs": 3,
}


@pytest.mark.parametrize(
    ("overrides", "channels_last"),
    [({}, False), (CNN_OVERRIDES, True)],
    ids=["mlp-dropout", "cnn-channels-last"],
)
def test_exported_weights_reload_to_the_reported_test_accuracy(
    tmp_path: Path, overrides: dict, channels_last: bool
) -> None:
    spec = digits_spec(**overrides)
    result = run_experiment(spec, checkpoint_dir=tmp_path, channels_last=channels_last)
    assert result.status == "succeeded", result.error

    path = export_final_weights(folder=tmp_path, spec=spec, experiment_id="exp-1")

    assert path == tmp_path / FINAL_WEIGHTS_NAME
    metadata = read_final_weights_metadata(path)
    assert ExperimentSpec.model_validate_json(metadata["spec"]) == spec
    assert (metadata["experiment_id"], metadata["epoch"]) == ("exp-1", str(spec.epochs))
    assert json.loads(metadata["final_metrics"]) == result.final_metrics
    accuracy = reloaded_test_accuracy(path, channels_last=channels_last)
    assert accuracy == result.final_metrics["test_acc"]
    # Not a trivial equality: an untrained model is near chance (0.1).
    assert result.final_metrics["test_acc"] > 0.3


def test_export_of_an_unfinished_run_is_refused(tmp_path: Path) -> None:
    spec = digits_spec(epochs=3)
    calls = iter(range(10**6))
    steps_per_epoch = 256 // 32
    result = run_experiment(
        spec,
        checkpoint_dir=tmp_path,
        should_stop=lambda: next(calls) >= steps_per_epoch + 1,  # stop inside epoch 2
    )
    assert result.status == "cancelled"

    with pytest.raises(ExportError, match=r"no checkpoint of the last epoch \(3\).*epoch 1"):
        export_final_weights(folder=tmp_path, spec=spec, experiment_id="exp-2")
    assert not (tmp_path / FINAL_WEIGHTS_NAME).exists()


def test_export_without_checkpoints_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="newest: none"):
        export_final_weights(folder=tmp_path, spec=digits_spec(), experiment_id="exp-3")
