"""Every variant a spec may name has its entry in the engine's tables, and no entry names
a variant that does not exist."""

from __future__ import annotations

import pytest

from core.spec import (
    DATASET_VARIANTS,
    MODEL_VARIANTS,
    OPTIMIZER_VARIANTS,
    SCHEDULE_VARIANTS,
    variant_name,
)
from worker.datasets import SPLIT_LOADERS
from worker.models import MODEL_BUILDERS
from worker.optimizers import OPTIMIZER_CLASSES
from worker.schedules import SCHEDULE_RATES


@pytest.mark.parametrize(
    ("variants", "table"),
    [
        (DATASET_VARIANTS, SPLIT_LOADERS),
        (MODEL_VARIANTS, MODEL_BUILDERS),
        (OPTIMIZER_VARIANTS, OPTIMIZER_CLASSES),
        (SCHEDULE_VARIANTS, SCHEDULE_RATES),
    ],
    ids=["datasets", "models", "optimizers", "schedules"],
)
def test_every_variant_has_exactly_one_table_entry(variants, table) -> None:
    assert sorted(variant_name(variant) for variant in variants) == sorted(table)
