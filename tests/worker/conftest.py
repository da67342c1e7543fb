"""Engine tests: one intra-op torch thread (tests/support/threads.py), and ``store``, a
migrated SQLite store opened in this process, for the tests that run the task here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.store import Store, open_store
from tests.support.threads import _one_thread  # noqa: F401


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    from core.store.migrate import upgrade_to_head

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade_to_head(url)
    with open_store(url) as opened:
        yield opened
