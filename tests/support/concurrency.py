"""Calls made at the same moment, for the tests of races (simultaneous cancels, submissions
beyond a cap): each on a thread of its own, released together by a barrier."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def at_once(
    calls: Sequence[Callable[[], T]], *, start_timeout_s: float = 10.0, timeout_s: float = 30.0
) -> list[T]:
    """Run each of ``calls`` on a thread of its own, all released together once every
    thread has started (within ``start_timeout_s``); what they returned, in the order they
    ended. Each thread is waited on for ``timeout_s``; a call that raised, or had not ended
    by then, has no result in the list."""
    start = threading.Barrier(len(calls))
    results: list[T] = []

    def run(call: Callable[[], T]) -> None:
        start.wait(timeout=start_timeout_s)
        results.append(call())

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout_s)
    return results
