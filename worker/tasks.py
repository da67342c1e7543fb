"""The Celery task: a thin adapter between a queue message and the engine.

A message carries an experiment id and nothing else. The task claims the experiment in the
store (a compare-and-set that makes duplicate deliveries harmless, see
``core.store.experiments``), re-reads and validates its spec, and calls
``worker.engine.run_experiment`` with

- a ``StoreMetricSink`` (metric points in batches, upserted on (experiment, name, step)),
- the experiment's checkpoint folder, ``settings.checkpoint_dir(experiment_id)``: the
  same whichever worker runs it, so a redelivered job resumes from its last epoch,
- ``should_stop`` and ``on_progress`` wired to a ``LeaseKeeper`` thread, which every
  ``ADAMLAB_HEARTBEAT_INTERVAL_S`` writes the heartbeat and the latest progress and reads
  whether the job was cancelled or taken over,

then records how the run ended. The engine is imported inside the task, so the worker's
main process never loads torch; pool children import it when they start.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import billiard.process
from celery import Task
from celery.signals import worker_process_init
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.celery_app import RUN_EXPERIMENT_TASK, celery_app
from core.settings import Settings, settings
from core.spec import ExperimentSpec
from core.store.checkpoints import CheckpointFile, sync_checkpoints
from core.store.experiments import (
    Claim,
    ExperimentStatus,
    Progress,
    claim_experiment,
    finish_experiment,
    record_heartbeat,
)
from core.store.session import default_session_factory, session_scope
from worker.store_sink import StoreMetricSink

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_gpu_ids: list[str] = []
"""The GPUs the pool children share out, one each; empty for a CPU worker."""


def enable_one_gpu_per_process() -> int:
    """Make pool child i see only the i-th visible GPU (CUDA_VISIBLE_DEVICES, set before it
    initialises CUDA), so that a worker with one child per GPU runs one job per GPU.
    Call in the worker's main process before the pool starts; returns the GPU count."""
    import torch

    count = torch.cuda.device_count()  # through NVML: no CUDA context in the parent
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [item.strip() for item in visible.split(",")] if visible else []
    _gpu_ids[:] = (ids or [str(index) for index in range(count)])[:count]
    return count


@worker_process_init.connect
def _prepare_pool_process(**_: Any) -> None:
    """In each pool child: die with the worker's main process, take its own GPU, and load
    the engine now so that the first job starts as fast as the next."""
    if sys.platform == "linux":
        # A child outliving a killed main process would keep training a job whose message
        # it can no longer acknowledge; the reaper recovers the job instead.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if _gpu_ids:
        index = billiard.process.current_process().index
        os.environ["CUDA_VISIBLE_DEVICES"] = _gpu_ids[index % len(_gpu_ids)]
    import torch

    import worker.engine  # noqa: F401

    if settings.torch_threads is not None:
        torch.set_num_threads(settings.torch_threads)
    gc.freeze()  # torch's and the engine's objects: out of the collector's full passes


class LeaseKeeper:
    """Keeps a claimed job alive in the store from a background thread.

    Every ``interval_s`` it writes the heartbeat with the latest progress, and learns
    whether the job was cancelled or its lease taken over (the reaper requeued it while
    this worker looked dead); either makes ``should_stop()`` true. When the epoch has
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
    ) -> None:
        self._claim = claim
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
        return self._stop.is_set()

    def on_progress(self, progress: Any) -> None:
        """The engine's ``on_progress``: keep the newest; the thread writes it."""
        self._latest = self.store_progress(progress)

    @property
    def latest_progress(self) -> Progress | None:
        return self._latest

    def store_progress(self, progress: Any) -> Progress:
        return Progress(
            epoch=progress.epoch,
            epochs=progress.epochs,
            step=progress.step,
            total_steps=progress.total_steps,
            fraction=progress.fraction,
            eta_s=progress.eta_s,
            device=self._device,
        )

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


def index_checkpoints(
    *, session_factory: sessionmaker[Session], experiment_id: str, folder: Path
) -> None:
    """Make the store's checkpoint index match the files in ``folder``: the per-epoch
    checkpoints and, once written, the final weights (``worker/export.py``)."""
    from worker.checkpoints import list_checkpoints
    from worker.export import final_weights_path, read_final_weights_metadata

    files = []
    final = final_weights_path(folder)
    if final.is_file():
        stat = final.stat()
        files.append(
            CheckpointFile(
                path=str(final),
                epoch=int(read_final_weights_metadata(final)["epoch"]),
                size_bytes=stat.st_size,
                modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
            )
        )
    for path in list_checkpoints(folder):
        try:
            stat = path.stat()
        except FileNotFoundError:  # pruned by the engine between listing and stat
            continue
        files.append(
            CheckpointFile(
                path=str(path),
                epoch=int(path.stem.split("-")[-1]),
                size_bytes=stat.st_size,
                modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
            )
        )
    with session_scope(session_factory) as session:
        sync_checkpoints(session=session, experiment_id=experiment_id, files=files)


def export_weights(*, folder: Path, spec: ExperimentSpec, experiment_id: str) -> None:
    """Write the final weights for download. A failure is logged, not the run's: its
    metrics stand, and the API answers that no final weights are on disk."""
    from worker.export import ExportError, export_final_weights

    try:
        export_final_weights(folder=folder, spec=spec, experiment_id=experiment_id)
    except (ExportError, OSError):
        logger.error("experiment %s: final weights not exported", experiment_id, exc_info=True)


def execute_experiment(
    experiment_id: str,
    *,
    worker_name: str,
    session_factory: sessionmaker[Session] | None = None,
    config: Settings = settings,
) -> str:
    """Run one delivery of a job; returns what happened: ``skipped`` (nothing to run),
    ``lease_lost`` (another worker took over), or the run's final status."""
    from worker.engine import EngineError, resolve_device, run_experiment

    factory = session_factory or default_session_factory()
    with session_scope(factory) as session:
        claim = claim_experiment(
            session=session,
            experiment_id=experiment_id,
            worker=worker_name,
            heartbeat_timeout_s=config.heartbeat_timeout_s,
            max_attempts=config.max_attempts,
        )
    if claim is None:
        logger.info(
            "experiment %s: nothing to run (finished, cancelled or running elsewhere)",
            experiment_id,
        )
        return "skipped"

    def finish(status: ExperimentStatus, **result: Any) -> bool:
        with session_scope(factory) as session:
            return finish_experiment(
                session=session,
                experiment_id=experiment_id,
                lease_id=claim.lease_id,
                status=status,
                **result,
            )

    try:
        spec = ExperimentSpec.model_validate(claim.spec)
    except ValidationError as exc:
        finish(ExperimentStatus.FAILED, error=f"the stored spec is no longer valid: {exc}")
        return ExperimentStatus.FAILED.value
    try:
        device: str | None = str(resolve_device(spec.device))
    except EngineError:
        device = None  # the engine reports it as the run's failure
    folder = config.checkpoint_dir(experiment_id)
    folder.mkdir(parents=True, exist_ok=True)
    sink = StoreMetricSink(
        experiment_id=experiment_id,
        session_factory=factory,
        batch_size=config.metric_batch_size,
        flush_interval_s=config.metric_flush_interval_s,
    )
    keeper = LeaseKeeper(
        claim=claim,
        session_factory=factory,
        interval_s=config.heartbeat_interval_s,
        checkpoint_dir=folder,
        device=device,
    )
    with keeper:
        try:
            result = run_experiment(
                spec,
                sink=sink,
                checkpoint_dir=folder,
                should_stop=keeper.should_stop,
                on_progress=keeper.on_progress,
                data_dir=config.data_dir,
            )
            sink.flush()
        except OperationalError:
            raise  # the store is unreachable: the heartbeat goes stale, the reaper requeues
        except Exception as exc:
            # An engine bug: record it for the user, then let Celery log it (no retry).
            finish(ExperimentStatus.FAILED, error=f"{type(exc).__name__}: {exc}", device=device)
            raise
    if result.status == "succeeded" and not keeper.lease_lost:
        export_weights(folder=folder, spec=spec, experiment_id=experiment_id)
    index_checkpoints(session_factory=factory, experiment_id=experiment_id, folder=folder)
    if keeper.lease_lost:
        logger.warning("experiment %s was taken over by another worker", experiment_id)
        return "lease_lost"
    status = ExperimentStatus(result.status)
    finish(
        status,
        final_metrics=result.final_metrics or None,
        error=result.error
        or ("cancelled at the user's request" if status is ExperimentStatus.CANCELLED else None),
        device=result.device,
        progress=keeper.latest_progress,
        resumed_from_epoch=result.resumed_from_epoch,
    )
    return status.value


@celery_app.task(
    bind=True,
    name=RUN_EXPERIMENT_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    # A store that cannot be reached is retried with backoff: the claim makes that safe
    # (a job already started by this delivery is handed on by the reaper once its
    # heartbeat is stale). A bad spec or a failed run is recorded at once, never retried.
    autoretry_for=(OperationalError,),
    retry_backoff=1,
    retry_backoff_max=30,
    max_retries=5,
)
def run_experiment_task(self: Task, experiment_id: str) -> str:
    worker_name = f"{self.request.hostname or 'worker'} (pid {os.getpid()})"
    return execute_experiment(experiment_id, worker_name=worker_name)
