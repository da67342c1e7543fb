"""A run's log, written beside its checkpoints by the task (in this process, on a SQLite
store): the engine's lines, a failure's traceback, and the bounded read-back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.run_logs import read_log_tail, run_log_path
from core.settings import Settings
from core.spec import ExperimentSpec
from core.store.experiments import create_experiment
from core.store.migrate import upgrade_to_head
from core.store.models import DEFAULT_TENANT_ID
from tests.factories import digits_body
from tests.support.store import Store, open_store
from tests.support.threads import _one_thread  # noqa: F401  # pyright: ignore[reportUnusedImport]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade_to_head(url)
    with open_store(url) as opened:
        yield opened


def run_task(store: Store, config: Settings, body: dict[str, Any]) -> tuple[str, str]:
    """Submit ``body`` and run it through the task; its id and how it ended."""
    from worker.tasks import execute_experiment

    with store.session() as session:
        experiment, _ = create_experiment(
            session=session,
            tenant_id=DEFAULT_TENANT_ID,
            spec=ExperimentSpec.model_validate(body),
            queue="cpu",
        )
    ended = execute_experiment(
        experiment.id,
        worker_name="test-worker",
        session_factory=store.session_factory,
        config=config,
    )
    return experiment.id, ended


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
