"""Resuming a run: the checkpoint of its state at an epoch's end (model, optimizer, RNG
states, position, the epoch's metrics and the spec), and that state restored from the
newest checkpoint, refused when the checkpoint holds a run of another spec.

The files themselves (format, atomic writes, which are kept) are ``worker/checkpoints.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.spec import ExperimentSpec
from worker.checkpoints import Checkpoint
from worker.errors import EngineError

# Spec fields that do not change what is computed: a checkpoint stays valid across them.
NON_TRAINING_FIELDS = frozenset({"name", "tags", "device"})


@dataclass(frozen=True)
class RunState:
    """The parts of a run that a checkpoint holds and a resume restores."""

    spec: ExperimentSpec
    steps_per_epoch: int
    model: nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device

    def restore(self, checkpoint: Checkpoint, folder: Path | None) -> None:
        """Load ``checkpoint`` (from ``folder``) into the model, the optimizer and torch's
        RNGs. An EngineError when it holds a run of a spec that differs from ours beyond
        ``NON_TRAINING_FIELDS`` (naming the fields), or when its step is not its epoch's
        end."""
        stored = ExperimentSpec.model_validate_json(checkpoint.spec_json)
        ours = self.spec.model_dump(exclude=set(NON_TRAINING_FIELDS))
        theirs = stored.model_dump(exclude=set(NON_TRAINING_FIELDS))
        if ours != theirs:
            differing = sorted(key for key in ours if ours[key] != theirs.get(key))
            raise EngineError(
                f"checkpoint folder {folder} holds a run of a different spec "
                f"(differs in {', '.join(differing)}); use a new folder for a new spec"
            )
        if checkpoint.step != checkpoint.epoch * self.steps_per_epoch:
            raise EngineError(f"checkpoint of epoch {checkpoint.epoch} is at an odd step")
        self.model.load_state_dict(checkpoint.model_state)
        self.optimizer.load_state_dict(checkpoint.optimizer_state)
        torch.set_rng_state(checkpoint.cpu_rng_state)
        if self.device.type == "cuda" and checkpoint.cuda_rng_state is not None:
            torch.cuda.set_rng_state(checkpoint.cuda_rng_state, self.device)

    def checkpoint(self, epoch: int, metrics: dict[str, float]) -> Checkpoint:
        """The checkpoint at the end of ``epoch``, whose metrics were ``metrics``."""
        return Checkpoint(
            epoch=epoch,
            step=epoch * self.steps_per_epoch,
            spec_json=self.spec.model_dump_json(),
            model_state=self.model.state_dict(),
            optimizer_state=self.optimizer.state_dict(),
            cpu_rng_state=torch.get_rng_state(),
            cuda_rng_state=(
                torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
            ),
            epoch_metrics=metrics,
        )
