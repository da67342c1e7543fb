"""Per-epoch checkpoints: everything needed to continue a run as if it never stopped.

A checkpoint holds the model's and the optimizer's state, the RNG states (torch's CPU
generator and, when used, the CUDA one), the position (epoch and global step, both
counting completed work), the last epoch's metrics and the full spec as JSON. Files are
``epoch-0001.pt``, ... in the experiment's folder, written atomically (temporary file, then
rename), so a crash mid-write never leaves a truncated newest checkpoint. The newest
``KEEP`` are kept. Loading uses ``torch.load(weights_only=True)``: tensors and plain
Python containers only, no pickled code.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1
KEEP = 2
_NAME = re.compile(r"^epoch-(\d{4,})\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used (unreadable, or of another experiment)."""


@dataclass(frozen=True)
class Checkpoint:
    epoch: int
    step: int
    spec_json: str
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    cpu_rng_state: torch.Tensor
    cuda_rng_state: torch.Tensor | None
    epoch_metrics: dict[str, float]


def checkpoint_path(folder: Path, epoch: int) -> Path:
    return folder / f"epoch-{epoch:04d}.pt"


def checkpoint_epoch(path: Path) -> int:
    """The epoch of a checkpoint file from its name (``epoch-0003.pt`` → 3)."""
    return int(path.stem.split("-")[-1])


def save_checkpoint(folder: Path, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` atomically to ``folder`` and drop all but the newest ``KEEP``."""
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "format_version": FORMAT_VERSION,
        "epoch": checkpoint.epoch,
        "step": checkpoint.step,
        "spec_json": checkpoint.spec_json,
        "model": checkpoint.model_state,
        "optimizer": checkpoint.optimizer_state,
        "cpu_rng_state": checkpoint.cpu_rng_state,
        "cuda_rng_state": checkpoint.cuda_rng_state,
        "epoch_metrics": checkpoint.epoch_metrics,
    }
    destination = checkpoint_path(folder, checkpoint.epoch)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".epoch-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            torch.save(payload, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    for old in list_checkpoints(folder)[:-KEEP]:
        old.unlink(missing_ok=True)
    return destination


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def load_latest_checkpoint(folder: Path | None) -> Checkpoint | None:
    """The newest checkpoint in ``folder``, or None when there is none."""
    if folder is None:
        return None
    paths = list_checkpoints(folder)
    if not paths:
        return None
    return load_checkpoint(paths[-1])


def load_checkpoint(path: Path) -> Checkpoint:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format {payload.get('format_version')!r}, "
            f"this engine reads {FORMAT_VERSION}"
        )
    return Checkpoint(
        epoch=payload["epoch"],
        step=payload["step"],
        spec_json=payload["spec_json"],
        model_state=payload["model"],
        optimizer_state=payload["optimizer"],
        cpu_rng_state=payload["cpu_rng_state"],
        cuda_rng_state=payload["cuda_rng_state"],
        epoch_metrics=payload["epoch_metrics"],
    )
