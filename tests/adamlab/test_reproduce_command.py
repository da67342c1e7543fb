"""``adamlab reproduce table1`` in this process: a shortened end-to-end run, and bad flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adamlab.cli import main


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


def test_reproduce_canyon_writes_its_figures_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "canyon"
    assert main(["reproduce", "canyon", "--out", str(out), "--device", "cpu"]) == 0
    assert (out / "canyon.png").read_bytes().startswith(b"\x89PNG")
    assert b"trajectory:Adam lr 0.2" in (out / "canyon.svg").read_bytes()
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary) == 3 and {run["status"] for run in summary.values()} == {"succeeded"}
    distances = [run["final_metrics"]["distance"] for run in summary.values()]
    assert distances[0] > 10 * max(distances[1:])  # SGD farthest from the minimum
    assert "canyon · adam lr=0.2 · seed 0: succeeded" in capsys.readouterr().out


def test_reproduce_playground_on_a_server_points_to_the_sweep_preset(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["reproduce", "reddi", "--server", "http://127.0.0.1:9"]) == 2
    assert "adamlab sweep create --preset reddi" in capsys.readouterr().err
