"""Engine tests: one intra-op thread, so timings do not swing with the other processes on
a small shared machine (two threads spinning against a busy core are several times slower
than one), and the results stay bitwise reproducible."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    torch.set_num_threads(1)
