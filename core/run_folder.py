"""Removing a run's folder (``settings.checkpoint_dir(id)``: checkpoints, final weights,
the run's log) when its experiment is deleted: by the API after the delete commits, and
by a worker that finds, once it has stopped writing, that its experiment was deleted
while it ran."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

REMOVE_ATTEMPTS = 3
"""A file written into the folder while it is being removed (a worker not yet stopped)
makes a pass fail with 'directory not empty'; the next pass takes it."""


def remove_run_folder(folder: Path) -> bool:
    """Remove ``folder`` and everything in it; True once it is gone (also if it never
    existed). A folder that cannot be removed is logged, never raised: the experiment is
    deleted either way, and a worker still writing there removes it when it stops."""
    error: OSError | None = None
    for _ in range(REMOVE_ATTEMPTS):
        if not folder.exists():
            return True
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:  # removed meanwhile by someone else (its worker)
            continue
        except OSError as exc:
            error = exc
            continue
        return True
    if not folder.exists():
        return True
    logger.warning("could not remove the run folder %s: %s", folder, error)
    return False
