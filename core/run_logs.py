"""A run's folder on disk, as the API sees it: the bytes it holds, and the log, the file
its worker writes beside the run's checkpoints
(``worker/run_log.py``), read back by the API's ``/logs`` route. The file is bounded by
rotation (``RUN_LOG_MAX_BYTES``, one older file kept), so a chatty run cannot fill a disk."""

from __future__ import annotations

from collections import deque
from pathlib import Path

RUN_LOG_NAME = "run.log"
RUN_LOG_MAX_BYTES = 256 * 1024
"""Where the worker rotates the file (``run.log`` → ``run.log.1``)."""
MAX_TAIL_LINES = 2_000
"""The most lines one answer of the /logs route holds."""


def bytes_on_disk(checkpoint_dir: Path) -> int:
    """The bytes of every file in a run's folder (checkpoints, weights, log)."""
    if not checkpoint_dir.is_dir():
        return 0
    total = 0
    for entry in checkpoint_dir.iterdir():
        try:
            if entry.is_file():
                total += entry.stat().st_size
        except FileNotFoundError:  # pruned by its worker between listing and stat
            continue
    return total


def run_log_path(checkpoint_dir: Path) -> Path:
    return checkpoint_dir / RUN_LOG_NAME


def read_log_tail(checkpoint_dir: Path, *, lines: int) -> tuple[list[str], bool]:
    """The last ``lines`` lines of the run's log (the rotated older file first) and
    whether older lines exist beyond them. No file: no lines."""
    path = run_log_path(checkpoint_dir)
    files = [p for p in (path.with_name(RUN_LOG_NAME + ".1"), path) if p.is_file()]
    tail: deque[str] = deque(maxlen=lines)
    seen = 0
    for file in files:
        with file.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                tail.append(line.rstrip("\n"))
                seen += 1
    return list(tail), seen > len(tail)
