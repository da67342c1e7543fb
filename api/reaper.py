"""The reaper: the API process's background sweep for jobs whose worker vanished.

Every ``ADAMLAB_REAPER_INTERVAL_S`` it requeues the running jobs whose heartbeat is older
than ``ADAMLAB_HEARTBEAT_TIMEOUT_S`` (or fails those out of attempts); see
``core.store.lifecycle.reap_lost_experiments``. Several API processes may each run one:
every change is a compare-and-set, and a duplicate message claims nothing.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from core.celery_app import BrokerUnavailableError, dispatch_experiment
from core.settings import settings
from core.store.lifecycle import ReapReport, reap_lost_experiments
from core.store.session import session_scope

logger = logging.getLogger(__name__)


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
    return report


async def run_reaper(interval_s: float) -> None:
    """Sweep forever (until cancelled); a store or broker outage skips a sweep."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(reap_once)
        except (SQLAlchemyError, BrokerUnavailableError):
            logger.warning("reaper: sweep skipped", exc_info=True)
