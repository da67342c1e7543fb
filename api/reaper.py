"""The reaper: the API process's background sweep for jobs whose worker vanished.

Every ``ADAMLAB_REAPER_INTERVAL_S`` it requeues the running jobs whose heartbeat is older
than ``ADAMLAB_HEARTBEAT_TIMEOUT_S`` (or fails those out of attempts); see
``core.store.reaping.reap_lost_experiments``. It also fails the queued jobs of a queue
that no live worker has consumed for ``ADAMLAB_NO_WORKER_TIMEOUT_S`` (``core/presence.py``,
``fail_unserved_experiments``), counting from this process's start at the earliest, so
that a service restarted after a long stop gives its workers time to announce themselves.
Several API processes may each run one: every change is a compare-and-set, and a
duplicate message claims nothing.

After a store outage it waits: no worker could write a heartbeat while the store was
down, so an old heartbeat says nothing about its worker until the store has been back
for ``ADAMLAB_HEARTBEAT_TIMEOUT_S``. Until then the sweep is held (the store is only
pinged), and a job that ran through a database restart is not taken from its worker.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.exc import SQLAlchemyError

from core.celery_app import BrokerUnavailableError, dispatch_experiment, queue_for_device
from core.presence import queue_presence
from core.settings import settings
from core.store.models import utc_now
from core.store.outage import is_store_unavailable
from core.store.reaping import ReapReport, fail_unserved_experiments, reap_lost_experiments
from core.store.session import default_engine, ping, session_scope
from core.store.sweeps import running_sweep_ids
from core.sweeps.scheduler import tend

logger = logging.getLogger(__name__)

_watching_since = utc_now()
"""This process's start: no queue counts as unserved for longer than this process saw."""


def reap_once() -> ReapReport:
    with session_scope() as session:
        report = reap_lost_experiments(
            session=session,
            heartbeat_timeout_s=settings.heartbeat_timeout_s,
            max_attempts=settings.max_attempts,
            dispatch=lambda experiment_id, queue: dispatch_experiment(experiment_id, queue=queue),
        )
    if report.requeued or report.failed or report.cancelled:
        logger.warning(
            "reaper: requeued %s, failed %s, cancelled %s",
            report.requeued,
            report.failed,
            report.cancelled,
        )
    fail_unserved()
    tend_sweeps()
    return report


def tend_sweeps() -> None:
    """Each running sweep's next step (``core.sweeps.scheduler.tend``): what a worker does
    when a member ends, done here too, so a worker lost between a member's end and that
    step only delays it."""
    with session_scope() as session:
        for sweep_id in running_sweep_ids(session=session):
            tend(
                session=session,
                sweep_id=sweep_id,
                queue_for=queue_for_device,
                dispatch=lambda experiment_id, queue: dispatch_experiment(
                    experiment_id, queue=queue
                ),
            )


def fail_unserved() -> list[str]:
    """Fail the queued jobs that waited ``ADAMLAB_NO_WORKER_TIMEOUT_S`` on a queue without
    a live worker (nothing when it is 0, or when Redis cannot say)."""
    if settings.no_worker_timeout_s <= 0:
        return []
    presence = queue_presence()
    if presence is None:
        return []
    failed: list[str] = []
    with session_scope() as session:
        for queue, found in presence.items():
            if found.served:
                continue
            failed += fail_unserved_experiments(
                session=session,
                queue=queue,
                unserved_since=max(found.unserved_since or _watching_since, _watching_since),
                timeout_s=settings.no_worker_timeout_s,
            )
    if failed:
        logger.warning("reaper: failed %s, their queues have no worker", failed)
    return failed


async def run_reaper(interval_s: float, *, heartbeat_timeout_s: float | None = None) -> None:
    """Sweep forever (until cancelled); a store or broker outage skips a sweep, and after
    a store outage no sweep runs until the store has answered for ``heartbeat_timeout_s``
    (default ``ADAMLAB_HEARTBEAT_TIMEOUT_S``)."""
    hold_s = settings.heartbeat_timeout_s if heartbeat_timeout_s is None else heartbeat_timeout_s
    store_down = False
    store_back_at: float | None = None  # monotonic time the store answered again
    while True:
        await asyncio.sleep(interval_s)
        try:
            if store_down:
                await asyncio.to_thread(ping, default_engine())
                store_back_at = store_back_at or time.monotonic()
                if time.monotonic() - store_back_at < hold_s:
                    continue
                store_down, store_back_at = False, None
                logger.warning("reaper: the store is back; sweeping again")
            await asyncio.to_thread(reap_once)
        except SQLAlchemyError as exc:
            if not is_store_unavailable(exc):
                logger.warning("reaper: sweep skipped", exc_info=True)
                continue
            if not store_down:
                logger.warning(
                    "reaper: the store is unavailable; no sweep until it has answered for "
                    "%.1f s (heartbeats cannot be written meanwhile): %s",
                    hold_s,
                    str(exc).splitlines()[0],
                )
            store_down, store_back_at = True, None
        except BrokerUnavailableError:
            logger.warning("reaper: sweep skipped", exc_info=True)
