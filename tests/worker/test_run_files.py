"""A run's files, as the task leaves them (in this process, on a SQLite store): its log
beside its checkpoints (the engine's lines, a failure's traceback, the bounded read-back),
and what stays on disk once it ends (weights exported, checkpoints it no longer needs
deleted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.run_logs import read_log_tail, run_log_path
from core.settings import Settings
from core.store.cancel import request_cancel
from core.store.checkpoints import list_checkpoints
from core.store.experiments import get_experiment
from tests.factories import digits_body, diverging_body, per_example_body
from tests.support.processes import wait_until
from tests.support.store import Store
from tests.support.task import execute, run_in_thread, submit


def run_task(store: Store, config: Settings, body: dict[str, Any]) -> tuple[str, str]:
    """Submit ``body`` and run it through the task; its id and how it ended."""
    experiment_id = submit(store, body)
    return experiment_id, execute(store, config, experiment_id)


def files_in(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def indexed(store: Store, experiment_id: str) -> list[str]:
    with store.session() as session:
        rows = list_checkpoints(session=session, experiment_id=experiment_id)
        return [Path(row.path).name for row in rows]


def test_the_log_tells_the_run_epoch_by_epoch(store: Store, tmp_path: Path) -> None:
    config = Settings(state_dir=tmp_path / "state")
    experiment_id, ended = run_task(store, config, digits_body(epochs=2, device="cpu"))
    assert ended == "succeeded"
    lines, truncated = read_log_tail(config.checkpoint_dir(experiment_id), lines=100)
    text = "\n".join(lines)
    assert f"experiment {experiment_id}: attempt 1 on test-worker" in lines[0]
    assert "training logistic_regression on digits with adam" in text
    assert "epoch 1/2: train_loss" in text and "epoch 2/2: train_loss" in text
    assert "finished 2 epochs" in text and not truncated


def test_a_failed_run_keeps_its_traceback(store: Store, tmp_path: Path) -> None:
    config = Settings(state_dir=tmp_path / "state", data_dir=tmp_path / "no-data")
    body = {"dataset": {"name": "mnist"}, "model": {"name": "logistic_regression"}, "epochs": 1}
    experiment_id, ended = run_task(store, config, body | {"device": "cpu"})
    assert ended == "failed"
    text = "\n".join(read_log_tail(config.checkpoint_dir(experiment_id), lines=200)[0])
    assert "ERROR worker.engine: the run failed before training" in text
    assert "Traceback (most recent call last)" in text
    assert "DatasetUnavailableError: data set files missing" in text


def test_the_tail_is_bounded_and_says_when_older_lines_exist(tmp_path: Path) -> None:
    path = run_log_path(tmp_path)
    path.with_name("run.log.1").write_text("".join(f"old {n}\n" for n in range(5)))
    path.write_text("".join(f"new {n}\n" for n in range(5)))
    assert read_log_tail(tmp_path, lines=3) == (["new 2", "new 3", "new 4"], True)
    assert read_log_tail(tmp_path, lines=10) == (
        [*(f"old {n}" for n in range(5)), *(f"new {n}" for n in range(5))],
        False,
    )
    assert read_log_tail(tmp_path / "none", lines=10) == ([], False)


# --- what stays on disk ---------------------------------------------------------------------


def test_a_succeeded_run_keeps_its_weights_and_log_only(store: Store, tmp_path: Path) -> None:
    from worker.export import read_final_weights_metadata

    config = Settings(state_dir=tmp_path / "state")
    experiment_id, ended = run_task(store, config, digits_body(epochs=3, device="cpu"))
    assert ended == "succeeded"
    folder = config.checkpoint_dir(experiment_id)
    assert files_in(folder) == {"final.safetensors", "run.log"}
    assert read_final_weights_metadata(folder / "final.safetensors")["complete"] == "true"
    assert indexed(store, experiment_id) == ["final.safetensors"]


def test_a_cancelled_run_keeps_its_newest_checkpoint_and_its_weights(
    store: Store, tmp_path: Path
) -> None:
    from worker.export import read_final_weights_metadata

    config = Settings(state_dir=tmp_path / "state", heartbeat_interval_s=0.05)
    experiment_id = submit(store, per_example_body(epochs=50, device="cpu"))
    thread, outcome = run_in_thread(store, config, experiment_id)

    def epochs_done() -> int:
        with store.session() as session:
            row = get_experiment(session=session, experiment_id=experiment_id, tenant_id=None)
            return (row.epoch or 0) if row is not None and (row.step or 0) > 2 * 898 else 0

    wait_until(lambda: epochs_done() >= 2, timeout_s=120, what="two epochs done")
    with store.session() as session:
        request_cancel(session=session, experiment_id=experiment_id, tenant_id=None)
    thread.join(timeout=30)
    assert outcome == ["cancelled"]
    folder = config.checkpoint_dir(experiment_id)
    checkpoints = sorted(name for name in files_in(folder) if name.startswith("epoch-"))
    assert len(checkpoints) == 1
    metadata = read_final_weights_metadata(folder / "final.safetensors")
    assert metadata["complete"] == "false"
    assert checkpoints == [f"epoch-{int(metadata['epoch']):04d}.pt"]
    assert set(indexed(store, experiment_id)) == {"final.safetensors", checkpoints[0]}


def test_a_failed_run_keeps_at_most_its_newest_checkpoint(store: Store, tmp_path: Path) -> None:
    config = Settings(state_dir=tmp_path / "state")
    experiment_id, ended = run_task(store, config, diverging_body(epochs=2))
    assert ended == "failed"
    folder = config.checkpoint_dir(experiment_id)
    assert "final.safetensors" not in files_in(folder)
    assert len([name for name in files_in(folder) if name.startswith("epoch-")]) <= 1
