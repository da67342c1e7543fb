"""Checkpoint files: atomic writes, the newest kept, unreadable files reported."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.factories import digits_spec
from worker.checkpoints import (
    KEEP,
    Checkpoint,
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    load_latest_checkpoint,
    save_checkpoint,
)
from worker.engine import run_experiment


def _checkpoint(epoch: int) -> Checkpoint:
    return Checkpoint(
        epoch=epoch,
        step=10 * epoch,
        spec_json="{}",
        model_state={"weight": torch.full((2,), float(epoch))},
        optimizer_state={"state": {}, "param_groups": []},
        cpu_rng_state=torch.get_rng_state(),
        cuda_rng_state=None,
        epoch_metrics={"test_acc": 0.5},
    )


def test_only_the_newest_checkpoints_are_kept(tmp_path: Path) -> None:
    for epoch in range(1, 5):
        save_checkpoint(tmp_path, _checkpoint(epoch))
    names = [path.name for path in list_checkpoints(tmp_path)]
    assert names == [f"epoch-{e:04d}.pt" for e in range(5 - KEEP, 5)]
    latest = load_latest_checkpoint(tmp_path)
    assert latest.epoch == 4 and latest.step == 40
    assert torch.equal(latest.model_state["weight"], torch.full((2,), 4.0))
    assert not list(tmp_path.glob("*.tmp"))


def test_empty_or_missing_folder_has_no_checkpoint(tmp_path: Path) -> None:
    assert load_latest_checkpoint(tmp_path / "absent") is None
    assert load_latest_checkpoint(None) is None
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    assert load_latest_checkpoint(tmp_path) is None


def test_truncated_checkpoint_is_a_checkpoint_error(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path, _checkpoint(1))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(path)


def test_engine_reports_an_unreadable_checkpoint_as_failed(tmp_path: Path) -> None:
    run_experiment(digits_spec(epochs=1), checkpoint_dir=tmp_path)
    (newest,) = list_checkpoints(tmp_path)
    newest.write_bytes(b"garbage")
    result = run_experiment(digits_spec(epochs=1), checkpoint_dir=tmp_path)
    assert result.status == "failed" and str(newest) in result.error
