"""The task adapter and the store sink, in this process, on a SQLite store and the real
engine (tiny digits runs); the same task under a real Celery worker is tested end to end
in tests/api."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from core.metrics import MetricPoint
from core.settings import Settings
from core.spec import ExperimentSpec
from core.store.cancel import request_cancel
from core.store.checkpoints import list_checkpoints
from core.store.experiments import get_experiment
from core.store.lifecycle import claim_experiment
from core.store.metrics import metric_names, read_curve
from core.store.models import ExperimentRow, utc_now
from tests.factories import digits_body, endless_body
from tests.support.processes import wait_until
from tests.support.store import Store
from tests.support.task import execute, run_in_thread, submit
from worker.sinks import ListSink
from worker.store_sink import StoreMetricSink

TIMING_METRICS = frozenset({"epoch_time_s", "examples_per_s"})
QUICK = digits_body(
    name="quick",
    dataset={"name": "digits", "batch_size": 64},
    optimizer={"name": "adamax"},
    epochs=3,
    device="cpu",
)
# Long enough to be caught running: an iteration per example, many epochs.
LONG = endless_body(name="long", optimizer={"name": "adamax"})


@pytest.fixture
def config(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        heartbeat_interval_s=0.05,
        heartbeat_timeout_s=1.0,
        metric_batch_size=64,
        metric_flush_interval_s=0.2,
    )


def read(store: Store, experiment_id: str) -> ExperimentRow:
    with store.session() as session:
        experiment = get_experiment(session=session, experiment_id=experiment_id, tenant_id=None)
        assert experiment is not None
        return experiment


def test_claimed_job_runs_to_success_with_every_point_stored(
    store: Store, config: Settings
) -> None:
    from worker.engine import run_experiment

    experiment_id = submit(store, QUICK)
    assert execute(store, config, experiment_id) == "succeeded"

    row = read(store, experiment_id)
    assert (row.status, row.attempts, row.device, row.worker) == (
        "succeeded",
        1,
        "cpu",
        "test-worker",
    )
    assert row.resumed_from_epoch == 0
    assert row.fraction == 1.0 and row.epoch == 3 and row.started_at <= row.finished_at
    reference = ListSink()
    expected = run_experiment(ExperimentSpec.model_validate(QUICK), sink=reference)
    assert {k: v for k, v in row.final_metrics.items() if k not in TIMING_METRICS} == {
        k: v for k, v in expected.final_metrics.items() if k not in TIMING_METRICS
    }
    with store.session() as session:
        assert set(metric_names(session=session, experiment_id=experiment_id)) == reference.names()
        for name in reference.names() - TIMING_METRICS:
            stored = read_curve(session=session, experiment_id=experiment_id, name=name)
            assert list(zip(stored.steps, stored.values, strict=True)) == [
                (p.step, p.value) for p in reference.series(name)
            ]
        checkpoints = list_checkpoints(session=session, experiment_id=experiment_id)
    assert checkpoints and all(Path(c.path).is_file() for c in checkpoints)
    assert Path(checkpoints[-1].path).parent == config.checkpoint_dir(experiment_id)


def test_redelivery_of_a_finished_job_runs_nothing(store: Store, config: Settings) -> None:
    experiment_id = submit(store, QUICK)
    assert execute(store, config, experiment_id) == "succeeded"
    finished_at = read(store, experiment_id).finished_at
    assert execute(store, config, experiment_id) == "skipped"
    row = read(store, experiment_id)
    assert (row.attempts, row.finished_at) == (1, finished_at)


def test_cancelled_queued_job_never_starts(store: Store, config: Settings) -> None:
    experiment_id = submit(store, QUICK)
    with store.session() as session:
        request_cancel(session=session, experiment_id=experiment_id, tenant_id=None)
    assert execute(store, config, experiment_id) == "skipped"
    row = read(store, experiment_id)
    assert (row.status, row.started_at, row.attempts) == ("cancelled", None, 0)


def test_cancel_stops_a_running_job_within_two_seconds(store: Store, config: Settings) -> None:
    experiment_id = submit(store, LONG)
    thread, outcome = run_in_thread(store, config, experiment_id)
    wait_until(lambda: (read(store, experiment_id).step or 0) > 0, timeout_s=60, what="a step")
    asked_at = time.monotonic()
    with store.session() as session:
        request_cancel(session=session, experiment_id=experiment_id, tenant_id=None)
    thread.join(timeout=10)
    assert outcome == ["cancelled"]
    assert time.monotonic() - asked_at < 2.0
    row = read(store, experiment_id)
    assert row.status == "cancelled" and row.finished_at is not None and row.fraction < 1.0


def test_a_job_of_a_worker_stopping_cleanly_is_handed_back_and_resumes(
    store: Store, config: Settings
) -> None:
    from worker.tasks import HANDED_BACK, execute_experiment

    body = LONG | {"epochs": 3}
    experiment_id = submit(store, body)
    stopping = threading.Event()
    outcome: list[str] = []

    def first_worker() -> None:
        outcome.append(
            execute_experiment(
                experiment_id,
                worker_name="first",
                session_factory=store.session_factory,
                config=config,
                stopping=stopping.is_set,
            )
        )

    thread = threading.Thread(target=first_worker, daemon=True)
    thread.start()
    wait_until(lambda: (read(store, experiment_id).epoch or 0) >= 2, timeout_s=90, what="epoch 2")
    stopping.set()  # what SIGTERM does in a pool child
    thread.join(timeout=10)
    assert outcome == [HANDED_BACK]
    row = read(store, experiment_id)
    assert (row.status, row.lease_id, row.heartbeat_at, row.worker) == ("queued", None, None, None)
    assert row.attempts == 0 and row.finished_at is None and "handed back" in row.error
    stopped_at = row.step

    # The next delivery claims it at once (no heartbeat timeout to wait) and resumes.
    assert execute(store, config, experiment_id) == "succeeded"
    row = read(store, experiment_id)
    assert row.attempts == 1 and row.resumed_from_epoch >= 1
    assert row.step > stopped_at
    # A worker asked to stop before a job starts leaves it queued for the next one.
    later = submit(store, QUICK)
    assert (
        execute_experiment(
            later, worker_name="x", session_factory=store.session_factory, stopping=lambda: True
        )
        == HANDED_BACK
    )
    assert read(store, later).status == "queued"


def test_a_job_taken_over_stops_without_writing_its_end(store: Store, config: Settings) -> None:
    experiment_id = submit(store, LONG)
    thread, outcome = run_in_thread(store, config, experiment_id)
    wait_until(lambda: (read(store, experiment_id).step or 0) > 0, timeout_s=60, what="a step")
    with store.session() as session:  # what a second worker does once the first looks dead
        takeover = claim_experiment(
            session=session,
            experiment_id=experiment_id,
            worker="second",
            heartbeat_timeout_s=config.heartbeat_timeout_s,
            max_attempts=3,
            now=utc_now() + timedelta(seconds=10),
        )
    assert takeover is not None
    thread.join(timeout=10)
    assert outcome == ["lease_lost"]
    row = read(store, experiment_id)
    assert (row.status, row.lease_id, row.worker) == ("running", takeover.lease_id, "second")


def test_a_job_deleted_while_running_stops_and_leaves_no_folder(
    store: Store, config: Settings
) -> None:
    """The rows go (as DELETE does) while the folder is left in place, as when the worker
    writes to it after the API removed it: the worker stops and removes it itself."""
    from core.store.manage import delete_experiment
    from worker.tasks import DELETED

    experiment_id = submit(store, LONG)
    folder = config.checkpoint_dir(experiment_id)
    thread, outcome = run_in_thread(store, config, experiment_id)
    wait_until(lambda: (read(store, experiment_id).epoch or 0) >= 2, timeout_s=90, what="epoch 2")
    assert any(folder.glob("*.pt")) and (folder / "run.log").is_file()
    with store.session() as session:
        assert delete_experiment(session=session, experiment_id=experiment_id, tenant_id=None)
    thread.join(timeout=10)
    assert outcome == [DELETED]
    assert not folder.exists()
    with store.session() as session:
        assert get_experiment(session=session, experiment_id=experiment_id, tenant_id=None) is None
        assert metric_names(session=session, experiment_id=experiment_id) == []
        assert list_checkpoints(session=session, experiment_id=experiment_id) == []


def test_a_delivery_of_a_deleted_job_runs_nothing(store: Store, config: Settings) -> None:
    from core.store.manage import delete_experiment

    experiment_id = submit(store, QUICK)
    with store.session() as session:
        delete_experiment(session=session, experiment_id=experiment_id, tenant_id=None)
    assert execute(store, config, experiment_id) == "skipped"
    assert not config.checkpoint_dir(experiment_id).exists()


def test_a_stored_spec_that_no_longer_validates_fails_at_once(
    store: Store, config: Settings
) -> None:
    experiment_id = submit(store, QUICK)
    with store.session() as session:
        session.execute(
            update(ExperimentRow)
            .where(ExperimentRow.id == experiment_id)
            .values(spec=QUICK | {"epochs": 0})
        )
        session.commit()
    assert execute(store, config, experiment_id) == "failed"
    row = read(store, experiment_id)
    assert row.status == "failed" and "epochs" in row.error


def test_store_sink_writes_in_batches_and_on_time(store: Store) -> None:
    experiment_id = submit(store, QUICK)
    now = [0.0]
    sink = StoreMetricSink(
        experiment_id=experiment_id,
        session_factory=store.session_factory,
        batch_size=100,
        flush_interval_s=5.0,
        clock=lambda: now[0],
    )
    for start in range(1, 251, 10):
        sink.write([MetricPoint("loss", step, 1.0 / step, 1) for step in range(start, start + 10)])
    assert (sink.batches_written, sink.points_written) == (2, 200)
    sink.write([MetricPoint("loss", 251, 0.5, 1)])
    assert sink.batches_written == 2  # 51 waiting, none for 5 s yet
    now[0] = 6.0
    sink.write([MetricPoint("loss", 5, 42.0, 1)])  # rewritten point: replaces step 5
    assert (sink.batches_written, sink.points_written) == (3, 252)
    sink.flush()
    assert sink.batches_written == 3  # nothing left to write
    with store.session() as session:
        curve = read_curve(session=session, experiment_id=experiment_id, name="loss")
    assert len(curve) == 251 and curve.values[4] == 42.0
