"""Store functions for the index of checkpoint files (the files themselves live on disk,
in ``settings.checkpoint_dir(experiment_id)``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.store.manage import experiment_exists
from core.store.models import CheckpointRow
from core.store.session import serialized_on_sqlite

FINAL_WEIGHTS_SUFFIX = ".safetensors"
"""The one safetensors file of an experiment's checkpoint folder holds its final weights
(the per-epoch checkpoints for resuming are ``epoch-NNNN.pt``)."""


@dataclass(frozen=True, slots=True)
class CheckpointFile:
    path: str
    epoch: int | None
    size_bytes: int
    modified_at: datetime


@serialized_on_sqlite
def sync_checkpoints(
    *, session: Session, experiment_id: str, files: Sequence[CheckpointFile]
) -> None:
    """Make the index of an experiment's checkpoints say exactly ``files``: new files are
    added, changed ones updated, and rows of files no longer on disk removed. Nothing is
    written for an experiment that has been deleted (the foreign key refuses the rows)."""
    try:
        _sync(session, experiment_id, files)
    except IntegrityError:
        session.rollback()
        if experiment_exists(session=session, experiment_id=experiment_id):
            raise


def _sync(session: Session, experiment_id: str, files: Sequence[CheckpointFile]) -> None:
    indexed = {
        row.path: row
        for row in session.scalars(
            select(CheckpointRow).where(CheckpointRow.experiment_id == experiment_id)
        )
    }
    present = {file.path for file in files}
    for file in files:
        row = indexed.get(file.path)
        if row is None:
            session.add(
                CheckpointRow(
                    experiment_id=experiment_id,
                    path=file.path,
                    epoch=file.epoch,
                    size_bytes=file.size_bytes,
                    modified_at=file.modified_at,
                )
            )
        else:
            row.epoch = file.epoch
            row.size_bytes = file.size_bytes
            row.modified_at = file.modified_at
    gone = [path for path in indexed if path not in present]
    if gone:
        session.execute(
            delete(CheckpointRow).where(
                CheckpointRow.experiment_id == experiment_id, CheckpointRow.path.in_(gone)
            )
        )
    session.commit()


def list_checkpoints(*, session: Session, experiment_id: str) -> list[CheckpointRow]:
    return list(
        session.scalars(
            select(CheckpointRow)
            .where(CheckpointRow.experiment_id == experiment_id)
            .order_by(CheckpointRow.epoch, CheckpointRow.path)
        )
    )


def final_weights_file(*, session: Session, experiment_id: str, folder: Path) -> Path | None:
    """The indexed final weights file of the experiment, if it lies in ``folder`` (its
    checkpoint folder) and is on disk; None otherwise."""
    folder = folder.resolve()
    for row in list_checkpoints(session=session, experiment_id=experiment_id):
        path = Path(row.path)
        in_folder = path.suffix == FINAL_WEIGHTS_SUFFIX and path.resolve().parent == folder
        if in_folder and path.is_file():
            return path
    return None
