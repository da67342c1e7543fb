"""The lease keeper: a background thread that keeps a claimed job alive in the store."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.metrics import Progress
from core.store.lifecycle import Claim, record_heartbeat
from core.store.session import session_scope
from worker.checkpoint_index import index_checkpoints

logger = logging.getLogger(__name__)


class LeaseKeeper:
    """Keeps a claimed job alive in the store from a background thread.

    Every ``interval_s`` it writes the heartbeat with the latest progress, and learns
    whether the job was cancelled or its lease taken over (the reaper requeued it while
    this worker looked dead); either makes ``should_stop()`` true, as does ``stopping()``
    (polled at every iteration: the worker is shutting down cleanly). When the epoch has
    moved on, it also updates the store's index of the checkpoint files. A failing database
    write is logged and tried again at the next beat: if the failure lasts, the
    heartbeat goes stale and the reaper hands the job to another worker.
    """

    def __init__(
        self,
        *,
        claim: Claim,
        session_factory: sessionmaker[Session],
        interval_s: float,
        checkpoint_dir: Path,
        device: str | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self._claim = claim
        self._stopping = stopping
        self._session_factory = session_factory
        self._interval_s = interval_s
        self._checkpoint_dir = checkpoint_dir
        self._device = device
        self._latest: Progress | None = None
        self._indexed_epoch: int | None = None
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{claim.experiment_id}", daemon=True
        )
        self.cancel_requested = False
        self.lease_lost = False

    def __enter__(self) -> LeaseKeeper:
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._finished.set()
        self._thread.join(timeout=max(5.0, 4 * self._interval_s))

    def should_stop(self) -> bool:
        """The engine's ``should_stop``: cancelled, taken over, or ``stopping()`` (the
        worker shuts down cleanly)."""
        return self._stop.is_set() or self._stopping()

    def on_progress(self, progress: Progress) -> None:
        """The engine's ``on_progress``: keep the newest, with this worker's device; the
        thread writes it."""
        self._latest = dataclasses.replace(progress, device=self._device)

    @property
    def latest_progress(self) -> Progress | None:
        return self._latest

    def _run(self) -> None:
        while not self._finished.wait(self._interval_s):
            self._beat()

    def _beat(self) -> None:
        progress = self._latest or Progress(device=self._device)
        try:
            with session_scope(self._session_factory) as session:
                reply = record_heartbeat(
                    session=session,
                    experiment_id=self._claim.experiment_id,
                    lease_id=self._claim.lease_id,
                    progress=progress,
                )
        except SQLAlchemyError:
            logger.warning("heartbeat of %s failed", self._claim.experiment_id, exc_info=True)
            return
        if not reply.lease_held:
            self.lease_lost = True
            self._stop.set()
        if reply.cancel_requested:
            self.cancel_requested = True
            self._stop.set()
        if reply.lease_held and progress.epoch != self._indexed_epoch:
            self._indexed_epoch = progress.epoch
            try:
                index_checkpoints(
                    session_factory=self._session_factory,
                    experiment_id=self._claim.experiment_id,
                    folder=self._checkpoint_dir,
                )
            except SQLAlchemyError:
                logger.warning("indexing checkpoints failed", exc_info=True)
