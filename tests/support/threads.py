"""One intra-op torch thread for the tests that train: timings do not swing with the
other processes on a small shared machine (two threads spinning against a busy core are
several times slower than one), and the results stay bitwise reproducible. A conftest
takes the fixture in by importing it."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)
