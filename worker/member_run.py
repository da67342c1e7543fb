"""One claimed experiment, from its claim to its recorded end, whichever way it trains:
alone (``worker.engine.run_experiment``) or as a member of a group
(``worker.batched.run_group``). ``worker/tasks.py`` starts one for the experiment of its
message and, for a sweep member with a group, one for each group mate it can claim.

``start_run`` claims the experiment, re-reads and validates its spec, records its
reproducibility record and makes its sink (``StoreMetricSink``), its folder
(``settings.checkpoint_dir(experiment_id)``) and its ``LeaseKeeper`` (the heartbeat, the
progress, the cancel). ``conclude_run`` settles and indexes its files and records how it
ended, or tells that it was deleted, taken over or handed back. Nothing here imports
torch: the worker's main process never loads it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.run_environment import RunEnvironment
from core.run_folder import remove_run_folder
from core.settings import Settings
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
from core.store.session import session_scope
from core.sweeps.running_member import Membership, early_stop_reason, membership
from worker.checkpoint_index import index_checkpoints
from worker.lease import LeaseKeeper
from worker.run_files import settle_run_files
from worker.store_sink import StoreMetricSink

if TYPE_CHECKING:
    from worker.run_result import RunResult

logger = logging.getLogger(__name__)

HANDED_BACK = "handed_back"
"""The outcome of a run stopped by a clean shutdown: the job is queued again in the store,
and its message must go back to the queue."""
DELETED = "deleted"
"""The outcome of a run whose experiment was deleted while it ran."""
LEASE_LOST = "lease_lost"
"""The outcome of a run another worker took over."""

AfterEpoch = Callable[[int, dict[str, float]], str | None]
"""As ``worker.engine.AfterEpoch``, named here without importing the engine (torch)."""


def removed_if_deleted(factory: sessionmaker[Session], experiment_id: str, folder: Path) -> bool:
    """Whether the experiment was deleted while this delivery ran; if so, its folder is
    removed: whatever this worker wrote there before it stopped (called once it has)."""
    with session_scope(factory) as session:
        if experiment_exists(session=session, experiment_id=experiment_id):
            return False
    remove_run_folder(folder)
    logger.info("experiment %s was deleted while it ran; it stopped, folder removed", experiment_id)
    return True


def early_stopping(factory: sessionmaker[Session], experiment_id: str) -> AfterEpoch:
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


def _record_run_environment(
    factory: sessionmaker[Session], claim: Claim, environment: RunEnvironment
) -> None:
    with session_scope(factory) as session:
        record_environment(
            session=session,
            experiment_id=claim.experiment_id,
            lease_id=claim.lease_id,
            environment=environment,
        )


def finish_claimed(
    factory: sessionmaker[Session],
    config: Settings,
    claim: Claim,
    status: ExperimentStatus,
    **ending: Unpack[RunEnding],
) -> ExperimentStatus | None:
    """Record how the claimed run ended. The writes after a claim outlive a store outage of
    up to ``ADAMLAB_STORE_OUTAGE_RETRY_S``: each is an upsert or a compare-and-set on the
    lease, so a repeated one is harmless."""

    def finish_once() -> ExperimentStatus | None:
        with session_scope(factory) as session:
            return finish_experiment(
                session=session,
                experiment_id=claim.experiment_id,
                lease_id=claim.lease_id,
                status=status,
                **ending,
            )

    return retry_while_store_unavailable(
        finish_once,
        give_up_after_s=config.store_outage_retry_s,
        what=f"end of {claim.experiment_id}",
    )()


@dataclass
class ClaimedRun:
    """An experiment this worker has claimed, with everything its training writes to."""

    claim: Claim
    spec: ExperimentSpec
    sweep: Membership | None
    folder: Path
    device: str | None
    environment: RunEnvironment | None
    sink: StoreMetricSink
    keeper: LeaseKeeper
    factory: sessionmaker[Session]
    config: Settings
    stopping: Callable[[], bool]

    @property
    def experiment_id(self) -> str:
        return self.claim.experiment_id

    @property
    def after_epoch(self) -> AfterEpoch | None:
        """The early-stopping decision of a member of a sweep with a rule, else None."""
        if self.sweep is None or not self.sweep.stops_early:
            return None
        return early_stopping(self.factory, self.experiment_id)

    def finish(
        self, status: ExperimentStatus, **ending: Unpack[RunEnding]
    ) -> ExperimentStatus | None:
        return finish_claimed(self.factory, self.config, self.claim, status, **ending)

    def is_deleted(self) -> bool:
        with session_scope(self.factory) as session:
            return not experiment_exists(session=session, experiment_id=self.experiment_id)


def start_run(
    experiment_id: str,
    *,
    worker_name: str,
    factory: sessionmaker[Session],
    config: Settings,
    stopping: Callable[[], bool],
    dead_worker: str | None = None,
) -> ClaimedRun | str:
    """Claim the experiment (also when ``dead_worker``, known gone, holds it) and make
    what its training needs; an outcome instead when there is nothing to train:
    ``skipped`` (finished, cancelled or running elsewhere) or ``failed`` (its stored spec
    is no longer valid, recorded as its failure)."""
    from worker.engine import EngineError, resolve_device
    from worker.environment import describe_environment

    with session_scope(factory) as session:
        claim = claim_experiment(
            session=session,
            experiment_id=experiment_id,
            worker=worker_name,
            heartbeat_timeout_s=config.heartbeat_timeout_s,
            max_attempts=config.max_attempts,
            dead_worker=dead_worker,
        )
    if claim is None:
        logger.info(
            "experiment %s: nothing to run (finished, cancelled or running elsewhere)",
            experiment_id,
        )
        return "skipped"
    try:
        spec = ExperimentSpec.model_validate(claim.spec)
    except ValidationError as exc:
        error = f"the stored spec is no longer valid: {exc}"
        finish_claimed(factory, config, claim, ExperimentStatus.FAILED, error=error)
        return ExperimentStatus.FAILED.value
    try:
        resolved = resolve_device(spec.device)
    except EngineError:
        device: str | None = None  # the engine reports it as the run's failure
        environment = None
    else:
        device = str(resolved)
        environment = describe_environment(spec, device=resolved, data_dir=config.data_dir)
        retry_while_store_unavailable(
            _record_run_environment,
            give_up_after_s=config.store_outage_retry_s,
            what=f"reproducibility record of {experiment_id}",
        )(factory, claim, environment)
    with session_scope(factory) as session:
        sweep = membership(session=session, experiment_id=experiment_id)
    folder = config.checkpoint_dir(experiment_id)
    folder.mkdir(parents=True, exist_ok=True)
    return ClaimedRun(
        claim=claim,
        spec=spec,
        sweep=sweep,
        folder=folder,
        device=device,
        environment=environment,
        sink=StoreMetricSink(
            experiment_id=experiment_id,
            session_factory=factory,
            batch_size=config.metric_batch_size,
            flush_interval_s=config.metric_flush_interval_s,
            outage_retry_s=config.store_outage_retry_s,
        ),
        keeper=LeaseKeeper(
            claim=claim,
            session_factory=factory,
            interval_s=config.heartbeat_interval_s,
            checkpoint_dir=folder,
            device=device,
            stopping=stopping,
        ),
        factory=factory,
        config=config,
        stopping=stopping,
    )


def record_engine_failure(run: ClaimedRun, error: BaseException) -> bool:
    """After the engine raised: record it as the run's failure unless the experiment was
    deleted meanwhile (what it raised then went with it); whether it was recorded."""
    if run.is_deleted():
        return False
    run.finish(ExperimentStatus.FAILED, error=f"{type(error).__name__}: {error}", device=run.device)
    return True


def conclude_run(run: ClaimedRun, result: RunResult | None) -> str:
    """Settle the run's files and record how it ended; returns the outcome: the recorded
    status, or ``deleted``, ``lease_lost`` or ``handed_back``. ``result`` None: the
    experiment was deleted while the engine ran (it raised)."""
    experiment_id, folder, keeper = run.experiment_id, run.folder, run.keeper
    if result is None:
        remove_run_folder(folder)
        logger.info("experiment %s was deleted while it ran; folder removed", experiment_id)
        return DELETED
    # A clean shutdown stops the run as a cancel would; it is handed back, not cancelled.
    handing_back = result.status == "cancelled" and not keeper.cancel_requested and run.stopping()
    index = retry_while_store_unavailable(
        index_checkpoints,
        give_up_after_s=run.config.store_outage_retry_s,
        what=f"checkpoint index of {experiment_id}",
    )
    try:
        if not keeper.lease_lost and not handing_back:
            settle_run_files(
                folder=folder,
                status=result.status,
                spec=run.spec,
                experiment_id=experiment_id,
                environment=run.environment,
            )
        index(session_factory=run.factory, experiment_id=experiment_id, folder=folder)
    except Exception:
        if removed_if_deleted(run.factory, experiment_id, folder):
            return DELETED
        raise
    if keeper.lease_lost:
        if removed_if_deleted(run.factory, experiment_id, folder):
            return DELETED
        logger.warning("experiment %s was taken over by another worker", experiment_id)
        return LEASE_LOST
    if handing_back:
        with session_scope(run.factory) as session:
            released = release_experiment(
                session=session,
                experiment_id=experiment_id,
                lease_id=run.claim.lease_id,
                progress=keeper.latest_progress,
            )
        if released:
            logger.warning("experiment %s handed back: this worker is stopping", experiment_id)
            return HANDED_BACK
        return DELETED if removed_if_deleted(run.factory, experiment_id, folder) else LEASE_LOST
    recorded = run.finish(
        ExperimentStatus(result.status),
        final_metrics=result.final_metrics or None,
        error=result.error,
        device=result.device,
        progress=keeper.latest_progress,
        resumed_from_epoch=result.resumed_from_epoch,
        stop_reason=result.stop_reason,
    )
    if recorded is None and removed_if_deleted(run.factory, experiment_id, folder):
        return DELETED
    return (recorded or ExperimentStatus(result.status)).value
