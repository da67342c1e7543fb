"""Suite-wide settings: datasets come from ../shared/datasets (no machine here has internet);
the service fixtures (tests/support/fixtures.py) are reachable from every test folder."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"

# Set before any test module imports core.settings, so every process the suite starts
# (workers, servers) inherits the same data directory.
if SHARED_DATASETS.is_dir():
    os.environ.setdefault("ADAMLAB_DATA_DIR", str(SHARED_DATASETS))

pytest_plugins = ["tests.support.fixtures"]
