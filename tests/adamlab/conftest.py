"""Tests of the ``adamlab`` command that train in this process: one intra-op torch thread
(tests/support/threads.py), as the engine tests."""

from __future__ import annotations

from tests.support.threads import _one_thread  # noqa: F401
