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

A sweep member with a group (``core/sweeps/grouping.py``) brings its group mates: the task
claims each mate it can (queued, or running with a stale heartbeat) with the same claim,
and trains the claimed members whose checkpoints are of one epoch as one stacked model
(``worker.batched.run_group``); a member left alone trains as any run. Each member keeps
its own lease, heartbeat, sink, folder, log and end (``worker/member_run.py``); a mate's
own message, delivered later, finds it running or finished and is skipped.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from typing import TYPE_CHECKING

from celery import Task
from celery.exceptions import Reject
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
from core.settings import Settings, settings
from core.store.models import ExperimentStatus
from core.store.session import default_session_factory, session_scope
from core.sweeps.grouping import group_signature
from core.sweeps.running_member import group_mates
from core.sweeps.scheduler import tend
from worker.member_run import (
    DELETED,
    HANDED_BACK,
    ClaimedRun,
    conclude_run,
    record_engine_failure,
    start_run,
)
from worker.run_log import run_log

if TYPE_CHECKING:
    from worker.run_result import RunResult

__all__ = ["DELETED", "HANDED_BACK", "execute_experiment", "run_experiment_task"]

logger = logging.getLogger(__name__)

FINISHED_OUTCOMES = frozenset(s.value for s in ExperimentStatus) - {"queued", "running"}


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


def claim_group_mates(
    run: ClaimedRun,
    *,
    worker_name: str,
    factory: sessionmaker[Session],
    config: Settings,
    stopping: Callable[[], bool],
) -> list[ClaimedRun]:
    """The group mates of ``run`` this worker could claim (none for a run with no group).
    When ``run`` was taken over from a gone worker, its mates held by that worker are
    claimed at once, before their own heartbeats are stale: the group resumes whole, with
    the curves of a group never interrupted."""
    if run.sweep is None or run.sweep.group_key is None:
        return []
    with session_scope(factory) as session:
        mate_ids = group_mates(session=session, experiment_id=run.experiment_id)
    mates = []
    for mate_id in mate_ids:
        mate = start_run(
            mate_id,
            worker_name=worker_name,
            factory=factory,
            config=config,
            stopping=stopping,
            dead_worker=run.claim.taken_from,
        )
        if isinstance(mate, ClaimedRun):
            mates.append(mate)
    return mates


def trained_together(runs: Iterable[ClaimedRun]) -> list[list[ClaimedRun]]:
    """The runs cut into the sets that train as one stack: the same group signature and
    checkpoints of the same epoch (a group killed while its members were saving one may
    hold two); a run with no signature trains alone."""
    from worker.checkpoints import checkpoint_epoch, list_checkpoints

    parts: dict[tuple[str, int], list[ClaimedRun]] = {}
    alone: list[list[ClaimedRun]] = []
    for run in runs:
        signature = group_signature(run.spec)
        if signature is None:
            alone.append([run])
            continue
        saved = list_checkpoints(run.folder)
        epoch = checkpoint_epoch(saved[-1]) if saved else 0
        parts.setdefault((signature, epoch), []).append(run)
    return alone + list(parts.values())


def end_run(run: ClaimedRun, result: RunResult | None) -> str:
    """Conclude the run (``worker.member_run.conclude_run``) and, when it finished as a
    sweep member, tend its sweep; its outcome."""
    outcome = conclude_run(run, result)
    if run.sweep is not None and outcome in FINISHED_OUTCOMES:
        tend_sweep(run.factory, run.sweep.sweep_id)
    return outcome


def train_runs(runs: list[ClaimedRun], worker_name: str) -> dict[str, str]:
    """Train ``runs`` (one alone, or several as one stack) and end each as soon as it is
    over, its mates training on; the outcome of each experiment id. An engine that raises
    fails every run not ended yet, then the error is raised for Celery to log (no retry)."""
    from worker.batched import MemberIO, run_group
    from worker.engine import run_experiment

    config = runs[0].config
    outcomes: dict[str, str] = {}
    held = {run.experiment_id: ExitStack() for run in runs}  # each run's log and lease

    def end(run: ClaimedRun, result: RunResult) -> None:
        run.sink.flush()
        held[run.experiment_id].close()
        outcomes[run.experiment_id] = end_run(run, result)

    together = f", with {len(runs) - 1} group mates as one stack" if len(runs) > 1 else ""
    with ExitStack() as stack:
        for run in runs:
            own = stack.enter_context(held[run.experiment_id])
            header = f"experiment {run.experiment_id}: attempt {run.claim.attempt} on {worker_name}"
            own.enter_context(run_log(run.folder, header=header + together))
            own.enter_context(run.keeper)
        stack.enter_context(worker.shutdown.job_running())
        try:
            if len(runs) == 1:
                run = runs[0]
                results = [
                    run_experiment(
                        run.spec,
                        sink=run.sink,
                        checkpoint_dir=run.folder,
                        should_stop=run.keeper.should_stop,
                        on_progress=run.keeper.on_progress,
                        data_dir=config.data_dir,
                        after_epoch=run.after_epoch,
                    )
                ]
            else:
                members = [
                    MemberIO(
                        sink=run.sink,
                        folder=run.folder,
                        should_stop=run.keeper.should_stop,
                        on_progress=run.keeper.on_progress,
                        after_epoch=run.after_epoch,
                        on_end=functools.partial(end, run),
                    )
                    for run in runs
                ]
                results = run_group(
                    [r.spec for r in runs], members=members, data_dir=config.data_dir
                )
            for run, result in zip(runs, results, strict=True):
                if run.experiment_id not in outcomes:  # alone, or a group that never started
                    end(run, result)
        except OperationalError:
            logger.warning(
                "experiments %s: the store is unreachable", [r.experiment_id for r in runs]
            )
            raise  # the store is unreachable: the heartbeats go stale, the reaper requeues
        except Exception as exc:
            logger.exception("experiments %s: the engine raised", [r.experiment_id for r in runs])
            recorded = False
            for run in runs:
                if run.experiment_id in outcomes:
                    continue
                held[run.experiment_id].close()
                if record_engine_failure(run, exc):
                    recorded = True  # an engine bug: recorded for the user, raised below
                else:  # deleted meanwhile: what it raised went with the experiment
                    outcomes[run.experiment_id] = conclude_run(run, None)
            if recorded:
                raise
    return outcomes


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
    the worker shuts down, the job is queued again), or the run's final status. The group
    mates it trained with end the same ways, each recorded in the store; a mate handed
    back gets a new message (its own was taken by the claim), as the experiment's own
    goes back to the queue."""
    if stopping():
        return HANDED_BACK  # shutting down: not started, for the next worker
    factory = session_factory or default_session_factory()
    starting = {"worker_name": worker_name, "factory": factory, "config": config}
    own = start_run(experiment_id, stopping=stopping, **starting)
    if not isinstance(own, ClaimedRun):
        return own
    runs = [own, *claim_group_mates(own, stopping=stopping, **starting)]
    outcomes: dict[str, str] = {}
    for part in trained_together(runs):
        outcomes.update(train_runs(part, worker_name))
    for mate in runs[1:]:
        if outcomes[mate.experiment_id] == HANDED_BACK:
            dispatch_experiment(mate.experiment_id, queue=queue_for_device(mate.spec.device))
    return outcomes[experiment_id]


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
