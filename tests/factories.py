"""Small specs for engine tests: tiny data, tiny models, a few epochs."""

from __future__ import annotations

from typing import Any

from core.spec import ExperimentSpec


def digits_spec(**overrides: Any) -> ExperimentSpec:
    """A 2-epoch MLP on 256 of scikit-learn's digits, evaluated on 200 test images."""
    fields: dict[str, Any] = {
        "name": "digits-mlp",
        "dataset": {"name": "digits", "batch_size": 32, "train_limit": 256, "test_limit": 200},
        "model": {"name": "mlp", "hidden_sizes": [32], "dropout": 0.2},
        "optimizer": {"name": "adam", "lr": 0.01},
        "schedule": {"name": "inverse_sqrt"},
        "epochs": 2,
        "seed": 0,
        "device": "cpu",
    }
    fields.update(overrides)
    return ExperimentSpec.model_validate(fields)


def linear_spec(**overrides: Any) -> ExperimentSpec:
    """The tutorial: linear regression, Adam with lr 0.1, 100 full-batch steps."""
    fields: dict[str, Any] = {
        "name": "tutorial",
        "dataset": {"name": "linear"},
        "model": {"name": "linear_regression"},
        "optimizer": {"name": "adam", "lr": 0.1},
        "schedule": {"name": "constant"},
        "epochs": 100,
        "seed": 0,
        "device": "cpu",
    }
    fields.update(overrides)
    return ExperimentSpec.model_validate(fields)
