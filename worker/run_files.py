"""What stays on disk once a run ends, so disk use does not grow with every run:

- succeeded: the final weights are exported (``final.safetensors``), then every resume
  checkpoint is deleted (nothing resumes a finished run);
- cancelled: the weights of the newest checkpoint are exported for download (metadata
  ``complete: "false"``) and only that checkpoint is kept;
- stopped (early, by its sweep's rule): as succeeded, the weights it had when it stopped
  (metadata ``complete: "false"``); no checkpoint is kept, nothing resumes it;
- failed: only the newest checkpoint is kept (a rerun can resume from it).

If the export fails, the checkpoints stay: the weights can still be had from them.
The run's log (``run.log``) always stays.
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.run_environment import RunEnvironment
from core.spec import ExperimentSpec
from worker.checkpoints import list_checkpoints
from worker.export import ExportError, export_final_weights

logger = logging.getLogger(__name__)


def settle_run_files(
    *,
    folder: Path,
    status: str,
    spec: ExperimentSpec,
    experiment_id: str,
    environment: RunEnvironment | None,
) -> None:
    """Export the weights a finished run offers and delete the checkpoints it no longer
    needs (see the module's docstring); a failure to export is logged, not raised."""
    exported = False
    if status in ("succeeded", "cancelled", "stopped") and list_checkpoints(folder):
        try:
            export_final_weights(
                folder=folder,
                spec=spec,
                experiment_id=experiment_id,
                environment=environment,
                complete=status == "succeeded",
            )
            exported = True
        except (ExportError, OSError):
            logger.error("experiment %s: weights not exported", experiment_id, exc_info=True)
    keep = 0 if status in ("succeeded", "stopped") and exported else 1
    checkpoints = list_checkpoints(folder)
    for old in checkpoints[: len(checkpoints) - keep]:
        old.unlink(missing_ok=True)
