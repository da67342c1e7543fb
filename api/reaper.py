"""The reaper: the API process's background sweep for jobs whose worker vanished.

Every ``ADAMLAB_REAPER_INTERVAL_S`` it requeues the running jobs whose heartbeat is older
than ``ADAMLAB_HEARTBEAT_TIMEOUT_S`` (or fails those out of attempts); see
``core.store.lifecycle.reap_lost_experiments``. It also fails the queued jobs of a queue
that no live worker has consumed for ``ADAMLAB_NO_WORKER_TIMEOUT_S`` (``core/presence.py``,
``fail_unserved_experiments``), counting from this process's start at the earliest, so
that a service restarted after a long stop gives its workers time to announce themselves.
Several API processes may each run one: every change is a compare-and-set, and a
duplicate message claims nothing.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from core.celery_app import BrokerUnavailableError, dispatch_experiment
from core.presence import queue_presence
from core.settings import settings
from core.store.lifecycle import ReapReport, fail_unserved_experiments, reap_lost_experiments
from core.store.models import utc_now
from core.store.session import session_scope

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
    return report


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


async def run_reaper(interval_s: float) -> None:
    """Sweep forever (until cancelled); a store or broker outage skips a sweep."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(reap_once)
        except (SQLAlchemyError, BrokerUnavailableError):
            logger.warning("reaper: sweep skipped", exc_info=True)
