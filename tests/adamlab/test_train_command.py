"""``adamlab train``: outputs, resume after a stop, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from adamlab.cli import main
from tests.factories import digits_spec, linear_spec


def _write_spec(path: Path, spec) -> Path:
    path.write_text(spec.model_dump_json())
    return path


def test_train_writes_metrics_json_csv_and_png(tmp_path: Path) -> None:
    spec_file = _write_spec(tmp_path / "spec.json", linear_spec(epochs=100))
    out = tmp_path / "out"
    assert main(["train", str(spec_file), "--out", str(out), "--no-progress"]) == 0
    document = json.loads((out / "metrics.json").read_text())
    assert document["result"]["status"] == "succeeded"
    assert document["spec"]["optimizer"]["lr"] == 0.1
    assert document["result"]["final_metrics"]["w"] == pytest.approx(2.0, abs=0.1)
    with (out / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(document["points"])
    assert {row["name"] for row in rows} >= {"batch_loss", "lr", "train_mse", "w", "b"}
    assert (out / "curves.png").read_bytes().startswith(b"\x89PNG")


def test_train_run_again_after_a_finished_run_keeps_every_point(tmp_path: Path) -> None:
    spec_file = _write_spec(tmp_path / "spec.json", digits_spec(epochs=2))
    out = tmp_path / "out"
    assert main(["train", str(spec_file), "--out", str(out), "--no-progress"]) == 0
    first = json.loads((out / "metrics.json").read_text())["points"]
    assert main(["train", str(spec_file), "--out", str(out), "--no-progress"]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["points"] == first
    assert again["result"]["resumed_from_epoch"] == 2


def test_invalid_spec_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec_file = tmp_path / "bad.json"
    spec_file.write_text(json.dumps({"dataset": {"name": "mnist", "batch_size": 0},
                                     "model": {"name": "cnn", "width": 3}}))  # fmt: skip
    assert main(["train", str(spec_file)]) == 2
    err = capsys.readouterr().err
    assert "dataset.mnist.batch_size" in err and "model.cnn.width" in err
    assert "Traceback" not in err


def test_spec_beyond_a_cost_limit_names_field_and_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.settings import settings

    spec_file = _write_spec(tmp_path / "spec.json", digits_spec(epochs=2))
    monkeypatch.setattr(settings, "max_steps", 10)  # the spec takes 2 × 8 iterations
    assert main(["train", str(spec_file), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "epochs: the run takes 16 iterations" in err and "ADAMLAB_MAX_STEPS" in err
    assert not (tmp_path / "out").exists()
    monkeypatch.setattr(settings, "max_steps", 16)
    assert main(["train", str(spec_file), "--out", str(tmp_path / "out"), "--no-progress"]) == 0


def test_missing_spec_file_is_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(tmp_path / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().err


def test_failed_run_exits_1_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = linear_spec(optimizer={"name": "sgd", "lr": 10.0}, epochs=400)
    spec_file = _write_spec(tmp_path / "spec.json", spec)
    assert main(["train", str(spec_file), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "run failed" in err and "at step" in err


def test_unknown_flag_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["train", "spec.json", "--epochs", "3"])
    assert exited.value.code == 2
    assert "--epochs" in capsys.readouterr().err


def test_checkpoints_of_another_spec_fail_without_mixing_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    first = _write_spec(tmp_path / "a.json", digits_spec(epochs=1))
    assert main(["train", str(first), "--out", str(out), "--no-progress"]) == 0
    second = _write_spec(tmp_path / "b.json", digits_spec(epochs=1, seed=5))
    assert main(["train", str(second), "--out", str(out), "--no-progress"]) == 1
    assert "different spec" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text())["points"] == []
    assert main(["train", str(second), "--out", str(out), "--fresh", "--no-progress"]) == 0


def test_train_twice_into_one_folder_says_it_shows_the_finished_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = _write_spec(tmp_path / "spec.json", digits_spec(epochs=1))
    out = tmp_path / "out"
    notice = f"{out} already holds a finished run of this spec; showing it (use --force to "
    assert main(["train", str(spec_file), "--out", str(out), "--no-progress"]) == 0
    assert notice not in capsys.readouterr().err
    first = json.loads((out / "metrics.json").read_text())

    assert main(["train", str(spec_file), "--out", str(out), "--no-progress"]) == 0
    assert notice + "train again)" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text())["points"] == first["points"]

    assert main(["train", str(spec_file), "--out", str(out), "--force", "--no-progress"]) == 0
    assert notice not in capsys.readouterr().err
    again = json.loads((out / "metrics.json").read_text())
    assert again["result"]["resumed_from_epoch"] == first["result"]["resumed_from_epoch"] == 0
    # The same seed, the same run (speeds and timings aside).
    assert _learning(again["points"]) == _learning(first["points"])


def _learning(points: list[dict]) -> list[dict]:
    return [point for point in points if point["name"] in ("batch_loss", "test_acc")]
