"""The store's index of an experiment's checkpoint files, kept in step with its folder."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from core.store.checkpoints import CheckpointFile, sync_checkpoints
from core.store.session import session_scope


def _indexed_file(path: Path, epoch: int) -> CheckpointFile:
    stat = path.stat()
    return CheckpointFile(
        path=str(path),
        epoch=epoch,
        size_bytes=stat.st_size,
        modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
    )


def index_checkpoints(
    *, session_factory: sessionmaker[Session], experiment_id: str, folder: Path
) -> None:
    """Make the store's checkpoint index match the files in ``folder``: the per-epoch
    checkpoints and, once written, the final weights (``worker/export.py``)."""
    from worker.checkpoints import checkpoint_epoch, list_checkpoints
    from worker.export import final_weights_path, read_final_weights_metadata

    files = []
    final = final_weights_path(folder)
    if final.is_file():
        files.append(_indexed_file(final, int(read_final_weights_metadata(final)["epoch"])))
    for path in list_checkpoints(folder):
        try:
            files.append(_indexed_file(path, checkpoint_epoch(path)))
        except FileNotFoundError:  # pruned by the engine between listing and stat
            continue
    with session_scope(session_factory) as session:
        sync_checkpoints(session=session, experiment_id=experiment_id, files=files)
