"""Table 1: the ten configurations, and a shortened end-to-end run of the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adamlab.cli import main
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


def test_shortened_reproduction_writes_table_and_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "table1"
    argv = ["reproduce", "table1", "--epochs", "1", "--optimizers", "adam",
            "--train-limit", "128", "--test-limit", "100", "--out", str(out),
            "--device", "cpu", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    table = (out / "table1.md").read_text()
    assert "Not the study's setting" in table
    assert "| Adam, published | 92.69% | 98.43% | 98.17% | 99.21% | 99.21% |" in table
    adam_ours = next(line for line in table.splitlines() if line.startswith("| Adam, ours |"))
    assert adam_ours.count("%") == 5
    assert "| AdaMax, ours | not run | not run | not run | not run | not run |" in table
    for figure in ("adam_vs_adamax.png", "dropout.png", "models.png"):
        assert (out / figure).read_bytes().startswith(b"\x89PNG")
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"lr-adam", "mlp-dropout-adam", "mlp-adam", "cnn-dropout-adam",
                            "cnn-adam"}  # fmt: skip
    assert all(entry["status"] == "succeeded" and entry["seed"] == 0 for entry in summary.values())
    accuracy = summary["lr-adam"]["final_metrics"]["test_acc"]
    assert f"{100 * accuracy:.2f}%" in adam_ours

    # Run again: finished configurations are read back, not trained again.
    capsys.readouterr()
    before = (out / "lr-adam" / "metrics.json").stat().st_mtime_ns
    assert main(argv) == 0
    assert (out / "lr-adam" / "metrics.json").stat().st_mtime_ns == before


def test_bad_flag_value_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["reproduce", "table1", "--epochs", "zero"])
    assert exited.value.code == 2
    assert "--epochs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["reproduce", "table1", "--models", "rnn"])
    assert "--models" in capsys.readouterr().err
