"""A succeeded run's final weights as a safetensors file, for download through the API.

``export_final_weights`` reads the last epoch's checkpoint (the weights that the run's
final metrics were measured with: the engine checkpoints after each epoch's evaluation)
and writes ``final.safetensors`` beside it: one tensor per entry of the model's
``state_dict()``, contiguous, on the CPU, and in the file's ``__metadata__`` (strings
only, as safetensors requires):

- ``spec``: the experiment spec as JSON (build the model with
  ``worker.models.build_model(spec.model, ...)`` and ``load_state_dict`` the tensors),
- ``experiment_id``, ``epoch``, ``step``, ``final_metrics`` (JSON), ``format``,
- ``complete``: ``"true"`` when ``epoch`` is the spec's last (a cancelled run's weights
  are its newest checkpoint's, ``"false"``),
- ``environment``: the run's reproducibility record as JSON
  (``core.run_environment.RunEnvironment``), when the worker made one.

The file is written to a temporary name and renamed, so a reader never sees half of it.
Safetensors holds tensors and strings only: loading it runs no pickled code, unlike the
``.pt`` checkpoints, which stay private to the workers.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

from core.run_environment import RunEnvironment
from core.spec import ExperimentSpec
from worker.checkpoints import CheckpointError, load_latest_checkpoint

FINAL_WEIGHTS_NAME = "final.safetensors"
FORMAT = "adamlab.final_weights.v1"


class ExportError(RuntimeError):
    """The final weights cannot be written (no finished checkpoint to take them from)."""


def final_weights_path(folder: Path) -> Path:
    return folder / FINAL_WEIGHTS_NAME


def export_final_weights(
    *,
    folder: Path,
    spec: ExperimentSpec,
    experiment_id: str,
    environment: RunEnvironment | None = None,
    complete: bool = True,
) -> Path:
    """Write the final weights of the run whose checkpoints are in ``folder``; returns the
    file's path. ``complete``: the newest checkpoint must be the last epoch's (a succeeded
    run), else ExportError; a cancelled run exports with ``complete=False``, taking the
    newest checkpoint whatever its epoch (the metadata's ``epoch`` says which). Raises
    ExportError too when there is no checkpoint or it cannot be read."""
    try:
        checkpoint = load_latest_checkpoint(folder)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from exc
    if checkpoint is None or (complete and checkpoint.epoch != spec.epochs):
        found = "none" if checkpoint is None else f"epoch {checkpoint.epoch}"
        raise ExportError(
            f"no checkpoint of the last epoch ({spec.epochs}) in {folder} (newest: {found})"
        )
    tensors = {
        name: tensor.detach().to("cpu").contiguous()
        for name, tensor in checkpoint.model_state.items()
    }
    metadata = {
        "format": FORMAT,
        "spec": spec.model_dump_json(),
        "experiment_id": experiment_id,
        "epoch": str(checkpoint.epoch),
        "step": str(checkpoint.step),
        "final_metrics": json.dumps(checkpoint.epoch_metrics),
        "complete": "true" if checkpoint.epoch == spec.epochs else "false",
    }
    if environment is not None:
        metadata["environment"] = environment.model_dump_json()
    destination = final_weights_path(folder)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".final-", suffix=".tmp")
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata=metadata)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return destination


def read_final_weights_metadata(path: Path) -> dict[str, str]:
    """The ``__metadata__`` of a final-weights file."""
    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})
