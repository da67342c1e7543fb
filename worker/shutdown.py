"""A clean stop of the worker: the running job hands its lease back instead of dying.

A warm shutdown (SIGTERM or Ctrl-C to ``adamlab worker``, ``docker stop``) reaches each
pool child as SIGTERM: the worker's main process forwards it (Celery's
``worker_shutting_down`` signal), and a signal sent to the whole process group reaches the
children directly. While a child runs a job, SIGTERM only sets a flag that the job's
``should_stop`` reads: the engine stops before its next iteration (the last epoch's
checkpoint stays on disk), the task hands the job back in the store
(``core.store.lifecycle.release_experiment``: queued, no lease, no heartbeat) and then
returns its message to the queue, so the next worker claims it at once. A child with no
job ends on SIGTERM as before (billiard's handler).

A child that has handed its job back exits by itself ``HANDED_BACK_EXIT_S`` later if the
pool has not ended it by then (a cold shutdown waits on its children without a bound).
A hard kill (SIGKILL, out of memory) hands nothing back: the reaper recovers the job once
its heartbeat is stale (docs/api.md, "Nothing lost").
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import billiard.process
from celery.signals import worker_shutting_down

HANDED_BACK_EXIT_S = 10.0

_in_pool_process = threading.Event()
_stop_requested = threading.Event()


def stop_requested() -> bool:
    """Whether this process was asked to stop cleanly while running a job."""
    return _stop_requested.is_set()


def request_stop() -> None:
    """Ask the job running in this process to hand itself back (what SIGTERM does)."""
    _stop_requested.set()


@contextlib.contextmanager
def job_running() -> Iterator[None]:
    """Mark the body as a job's run: in a pool child (``install_in_pool_process``),
    SIGTERM then stops the job instead of the process. The handler is set for the run
    only, over billiard's own (which it restores), since billiard sets its own after the
    child's start-up hook."""
    in_pool_main_thread = _in_pool_process.is_set() and (
        threading.current_thread() is threading.main_thread()
    )
    previous = signal.getsignal(signal.SIGTERM) if in_pool_main_thread else None
    if in_pool_main_thread:
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        if in_pool_main_thread:
            signal.signal(signal.SIGTERM, previous)


def exit_soon_after_hand_back() -> None:
    """After a job was handed back: this process ends by itself after
    ``HANDED_BACK_EXIT_S`` if the pool has not ended it (a cold shutdown joins its
    children without a bound, and the SIGTERM it sent was spent on the job)."""
    timer = threading.Timer(HANDED_BACK_EXIT_S, os._exit, args=(0,))
    timer.daemon = True
    timer.start()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _stop_requested.set()


def install_in_pool_process() -> None:
    """In a pool child, as it starts: from now on SIGTERM during a job stops the job."""
    _in_pool_process.set()


@worker_shutting_down.connect
def _forward_warm_shutdown(how: str = "", **_: object) -> None:
    """In the worker's main process: pass a warm shutdown on to the pool children."""
    if how != "Warm":
        return
    for child in billiard.process.active_children():
        if child.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
