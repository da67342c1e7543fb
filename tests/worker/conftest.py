"""Engine tests: one intra-op torch thread (tests/support/threads.py)."""

from __future__ import annotations

from tests.support.threads import _one_thread  # noqa: F401
