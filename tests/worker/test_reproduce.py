"""Table 1: the ten configurations (the command's run: tests/adamlab/test_reproduce_command.py)."""

from __future__ import annotations

import pytest

from worker.reproduce import PUBLISHED, table1_configs


def test_table1_has_the_ten_configurations_of_the_study() -> None:
    configs = table1_configs()
    assert len(configs) == 10
    assert len({c.key for c in configs}) == 10
    for config in configs:
        spec = config.spec
        assert spec.dataset.name == "mnist" and spec.dataset.batch_size == 128
        assert spec.dataset.train_limit is None and spec.dataset.test_limit is None
        assert spec.epochs == 20 and spec.l2 == 0.0
        assert spec.schedule.name == "inverse_sqrt"
        assert spec.optimizer.betas == (0.9, 0.999) and spec.optimizer.eps == 1e-8
        assert spec.optimizer.lr == {"adam": 1e-3, "adamax": 2e-3}[config.optimizer]
        assert spec.model.dropout == (0.5 if config.dropout else 0.0)
    lr_configs = [c for c in configs if c.model == "lr"]
    assert [c.dropout for c in lr_configs] == [False, False]
    assert {c.spec.model.name for c in configs} == {"logistic_regression", "mlp", "cnn"}
    assert all(len(row) == 5 for row in PUBLISHED.values())


def test_unknown_model_is_named() -> None:
    with pytest.raises(ValueError, match="rnn"):
        table1_configs(models=["rnn"])
