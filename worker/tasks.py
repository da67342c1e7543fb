"""The Celery task: a thin adapter between a queue message and the engine.

A message carries an experiment id and nothing else. The task claims the experiment in the
store (a compare-and-set that makes duplicate deliveries harmless, see
``core.store.lifecycle``), re-reads and validates its spec, and calls
``worker.engine.run_experiment`` with

- a ``StoreMetricSink`` (metric points in batches, upserted on (experiment, name, step)),
- the experiment's checkpoint folder, ``settings.checkpoint_dir(experiment_id)``: the
  same whichever worker runs it, so a redelivered job resumes from its last epoch,
- ``should_stop`` and ``on_progress`` wired to a ``LeaseKeeper`` thread
  (``worker/lease.py``), which every ``ADAMLAB_HEARTBEAT_INTERVAL_S`` writes the heartbeat
  and the latest progress and reads whether the job was cancelled or taken over,

records the run's reproducibility record (``worker/environment.py``) and its log
(``worker/run_log.py``), then settles its files (``worker/run_files.py``: weights exported,
checkpoints no longer needed deleted), indexes them (``worker/checkpoint_index.py``) and
records how the run ended. An experiment deleted while it runs (its row gone: the
heartbeat finds no lease) stops like one taken over; once the run has stopped writing,
the task removes the experiment's folder, which it may have written again after the
API removed it, and returns ``deleted``. A worker shutting down cleanly makes
``should_stop`` true as well (``worker/shutdown.py``): the job is then handed back in the
store and its message returned to the queue (``Reject(requeue=True)``), so the next
worker resumes it at once from its last checkpoint. The engine is imported inside the
task, so the worker's main process never loads torch; pool children import it when they
start (``worker/pool.py``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Unpack

from celery import Task
from celery.exceptions import Reject
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

import worker.pool  # noqa: F401 (connects the pool processes' start-up hook)
import worker.presence  # noqa: F401 (connects the announcement of the worker's queues)
import worker.shutdown
from core.celery_app import (
    RUN_EXPERIMENT_TASK,
    celery_app,
    dispatch_experiment,
    queue_for_device,
)
from core.run_environment import RunEnvironment
from core.run_folder import remove_run_folder
from core.settings import Settings, settings
from core.spec import ExperimentSpec
from core.store.lifecycle import (
    Claim,
    RunEnding,
    claim_experiment,
    finish_experiment,
    record_environment,
    release_experiment,
)
from core.store.manage import experiment_exists
from core.store.models import ExperimentStatus
from core.store.outage import retry_while_store_unavailable
from core.store.session import default_session_factory, session_scope
from core.sweeps.scheduler import early_stop_reason, membership, tend
from worker.checkpoint_index import index_checkpoints
from worker.lease import LeaseKeeper
from worker.run_files import settle_run_files
from worker.run_log import run_log
from worker.store_sink import StoreMetricSink

logger = logging.getLogger(__name__)

HANDED_BACK = "handed_back"
"""What ``execute_experiment`` returns when the worker stopped cleanly: the job is queued
again in the store, and its message must go back to the queue."""
DELETED = "deleted"
"""What ``execute_experiment`` returns when the experiment was deleted while it ran."""


def removed_if_deleted(factory: sessionmaker[Session], experiment_id: str, folder: Path) -> bool:
    """Whether the experiment was deleted while this delivery ran; if so, its folder is
    removed: whatever this worker wrote there before it stopped (called once it has)."""
    with session_scope(factory) as session:
        if experiment_exists(session=session, experiment_id=experiment_id):
            return False
    remove_run_folder(folder)
    logger.info("experiment %s was deleted while it ran; it stopped, folder removed", experiment_id)
    return True


def record_run_environment(
    factory: sessionmaker[Session], claim: Claim, environment: RunEnvironment
) -> None:
    with session_scope(factory) as session:
        record_environment(
            session=session,
            experiment_id=claim.experiment_id,
            lease_id=claim.lease_id,
            environment=environment,
        )


def early_stopping(
    factory: sessionmaker[Session], experiment_id: str
) -> Callable[[int, dict[str, float]], str | None]:
    """The engine's ``after_epoch``: the sweep's early-stopping decision for a member (for
    any other experiment, always go on). A decision that cannot be had (the store away)
    lets the run go on: stopping early saves time, going on loses nothing."""

    def after_epoch(epoch: int, metrics: dict[str, float]) -> str | None:
        try:
            with session_scope(factory) as session:
                return early_stop_reason(
                    session=session, experiment_id=experiment_id, epoch=epoch, metrics=metrics
                )
        except OperationalError:
            logger.warning(
                "experiment %s: no early-stopping decision after epoch %d",
                experiment_id,
                epoch,
                exc_info=True,
            )
            return None

    return after_epoch


def tend_sweep(factory: sessionmaker[Session], sweep_id: str) -> None:
    """After a sweep member ends, its sweep's next step (``core.sweeps.scheduler.tend``);
    a failure is logged: the API's reaper tends every running sweep too."""
    try:
        with session_scope(factory) as session:
            tend(
                session=session,
                sweep_id=sweep_id,
                queue_for=queue_for_device,
                dispatch=lambda member_id, queue: dispatch_experiment(member_id, queue=queue),
            )
    except Exception:
        logger.warning("sweep %s was not tended", sweep_id, exc_info=True)


def execute_experiment(
    experiment_id: str,
    *,
    worker_name: str,
    session_factory: sessionmaker[Session] | None = None,
    config: Settings = settings,
    stopping: Callable[[], bool] = worker.shutdown.stop_requested,
) -> str:
    """Run one delivery of a job; returns what happened: ``skipped`` (nothing to run),
    ``lease_lost`` (another worker took over), ``deleted`` (the experiment was deleted
    while it ran; its folder is removed), ``handed_back`` (``stopping()`` became true:
    the worker shuts down, the job is queued again), or the run's final status."""
    from worker.engine import EngineError, RunResult, resolve_device, run_experiment
    from worker.environment import describe_environment

    if stopping():
        return HANDED_BACK  # shutting down: not started, for the next worker
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

    def finish_once(
        status: ExperimentStatus, **ending: Unpack[RunEnding]
    ) -> ExperimentStatus | None:
        with session_scope(factory) as session:
            return finish_experiment(
                session=session,
                experiment_id=experiment_id,
                lease_id=claim.lease_id,
                status=status,
                **ending,
            )

    # The writes after the claim outlive a store outage of up to ADAMLAB_STORE_OUTAGE_RETRY_S:
    # each is an upsert or a compare-and-set on the lease, so a repeated one is harmless.
    finish = retry_while_store_unavailable(
        finish_once, give_up_after_s=config.store_outage_retry_s, what=f"end of {experiment_id}"
    )
    index = retry_while_store_unavailable(
        index_checkpoints,
        give_up_after_s=config.store_outage_retry_s,
        what=f"checkpoint index of {experiment_id}",
    )
    record = retry_while_store_unavailable(
        record_run_environment,
        give_up_after_s=config.store_outage_retry_s,
        what=f"reproducibility record of {experiment_id}",
    )

    try:
        spec = ExperimentSpec.model_validate(claim.spec)
    except ValidationError as exc:
        finish(ExperimentStatus.FAILED, error=f"the stored spec is no longer valid: {exc}")
        return ExperimentStatus.FAILED.value
    try:
        resolved = resolve_device(spec.device)
    except EngineError:
        device: str | None = None  # the engine reports it as the run's failure
        environment = None
    else:
        device = str(resolved)
        environment = describe_environment(spec, device=resolved, data_dir=config.data_dir)
        record(factory, claim, environment)
    with session_scope(factory) as session:
        sweep = membership(session=session, experiment_id=experiment_id)
    folder = config.checkpoint_dir(experiment_id)
    folder.mkdir(parents=True, exist_ok=True)
    sink = StoreMetricSink(
        experiment_id=experiment_id,
        session_factory=factory,
        batch_size=config.metric_batch_size,
        flush_interval_s=config.metric_flush_interval_s,
        outage_retry_s=config.store_outage_retry_s,
    )
    keeper = LeaseKeeper(
        claim=claim,
        session_factory=factory,
        interval_s=config.heartbeat_interval_s,
        checkpoint_dir=folder,
        device=device,
        stopping=stopping,
    )
    header = f"experiment {experiment_id}: attempt {claim.attempt} on {worker_name}"
    result: RunResult | None
    with run_log(folder, header=header), keeper, worker.shutdown.job_running():
        try:
            result = run_experiment(
                spec,
                sink=sink,
                checkpoint_dir=folder,
                should_stop=keeper.should_stop,
                on_progress=keeper.on_progress,
                data_dir=config.data_dir,
                after_epoch=early_stopping(factory, experiment_id)
                if sweep is not None and sweep.stops_early
                else None,
            )
            sink.flush()
        except OperationalError:
            logger.warning("experiment %s: the store is unreachable", experiment_id)
            raise  # the store is unreachable: the heartbeat goes stale, the reaper requeues
        except Exception as exc:
            with session_scope(factory) as session:
                gone = not experiment_exists(session=session, experiment_id=experiment_id)
            if not gone:
                # An engine bug: record it for the user, then let Celery log it (no retry).
                logger.exception("experiment %s: the engine raised", experiment_id)
                finish(ExperimentStatus.FAILED, error=f"{type(exc).__name__}: {exc}", device=device)
                raise
            result = None  # deleted meanwhile: what it raised went with the experiment
    if result is None:
        remove_run_folder(folder)
        logger.info("experiment %s was deleted while it ran; folder removed", experiment_id)
        return DELETED
    # A clean shutdown stops the run as a cancel would; it is handed back, not cancelled.
    handing_back = result.status == "cancelled" and not keeper.cancel_requested and stopping()
    try:
        if not keeper.lease_lost and not handing_back:
            settle_run_files(
                folder=folder,
                status=result.status,
                spec=spec,
                experiment_id=experiment_id,
                environment=environment,
            )
        index(session_factory=factory, experiment_id=experiment_id, folder=folder)
    except Exception:
        if removed_if_deleted(factory, experiment_id, folder):
            return DELETED
        raise
    if keeper.lease_lost:
        if removed_if_deleted(factory, experiment_id, folder):
            return DELETED
        logger.warning("experiment %s was taken over by another worker", experiment_id)
        return "lease_lost"
    if handing_back:
        with session_scope(factory) as session:
            released = release_experiment(
                session=session,
                experiment_id=experiment_id,
                lease_id=claim.lease_id,
                progress=keeper.latest_progress,
            )
        if released:
            logger.warning("experiment %s handed back: this worker is stopping", experiment_id)
            return HANDED_BACK
        return DELETED if removed_if_deleted(factory, experiment_id, folder) else "lease_lost"
    recorded = finish(
        ExperimentStatus(result.status),
        final_metrics=result.final_metrics or None,
        error=result.error,
        device=result.device,
        progress=keeper.latest_progress,
        resumed_from_epoch=result.resumed_from_epoch,
        stop_reason=result.stop_reason,
    )
    if recorded is None and removed_if_deleted(factory, experiment_id, folder):
        return DELETED
    if sweep is not None:
        tend_sweep(factory, sweep.sweep_id)
    return (recorded or ExperimentStatus(result.status)).value


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
    outcome = execute_experiment(experiment_id, worker_name=worker_name)
    if outcome == HANDED_BACK:
        worker.shutdown.exit_soon_after_hand_back()
        # Back to the head of its queue, after the store says queued: the next worker's
        # claim takes it at once.
        raise Reject(f"experiment {experiment_id} handed back at shutdown", requeue=True)
    return outcome
