"""The log of one run, written beside its checkpoints while it runs: every record of the
project's loggers (the engine's epoch lines, warnings, failures with their tracebacks) in
this worker process, for the API's ``GET /v1/experiments/{id}/logs``. A resumed delivery
appends to the same file, so the log tells the whole story of the experiment."""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.run_logs import RUN_LOG_MAX_BYTES, run_log_path

CAPTURED_LOGGERS = ("worker", "optim", "core")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def run_log(checkpoint_dir: Path, *, header: str) -> Iterator[logging.Logger]:
    """Capture the project's log records into the run's file while the block runs; the
    logger yielded writes the run's own lines (starting with ``header``)."""
    handler = logging.handlers.RotatingFileHandler(
        run_log_path(checkpoint_dir), maxBytes=RUN_LOG_MAX_BYTES, backupCount=1, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(logging.INFO)
    loggers = [logging.getLogger(name) for name in CAPTURED_LOGGERS]
    previous_levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
    run_logger = logging.getLogger("worker.run")
    run_logger.info("%s", header)
    try:
        yield run_logger
    finally:
        for logger, level in zip(loggers, previous_levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
        handler.close()
