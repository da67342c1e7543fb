"""The store on SQLite and on a real PostgreSQL: migrations, experiments' life cycle,
listing, metric points, checkpoints."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from core.metrics import MetricPoint, MetricSeries, Progress
from core.spec import ExperimentSpec
from core.store.cancel import CancelOutcome, request_cancel
from core.store.checkpoints import CheckpointFile, list_checkpoints, sync_checkpoints
from core.store.experiments import IdempotencyConflictError, create_experiment, get_experiment
from core.store.lifecycle import (
    claim_experiment,
    finish_experiment,
    record_heartbeat,
    release_experiment,
)
from core.store.listing import ExperimentFilters, list_experiments
from core.store.metrics import (
    downsample,
    read_curve,
    read_history,
    upsert_metric_points,
)
from core.store.models import DEFAULT_TENANT_ID, Base, ExperimentRow, ExperimentStatus
from core.store.paging import InvalidCursorError
from core.store.reaping import fail_unserved_experiments, reap_lost_experiments
from tests.factories import digits_body
from tests.support.concurrency import at_once
from tests.support.store import Store

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TIMEOUT_S = 10.0


def make_spec(**overrides: Any) -> ExperimentSpec:
    return ExperimentSpec.model_validate(digits_body(name="exp", epochs=2) | overrides)


def new_experiment(db: Store, *, now: datetime = T0, **overrides: Any) -> str:
    with db.session() as session:
        experiment, created = create_experiment(
            session=session,
            tenant_id=DEFAULT_TENANT_ID,
            spec=make_spec(**overrides),
            queue="cpu",
            now=now,
        )
        assert created
        return experiment.id


def claim(
    db: Store, experiment_id: str, *, now: datetime = T0, max_attempts: int = 3, worker: str = "w"
):
    with db.session() as session:
        return claim_experiment(
            session=session,
            experiment_id=experiment_id,
            worker=worker,
            heartbeat_timeout_s=TIMEOUT_S,
            max_attempts=max_attempts,
            now=now,
        )


def read(db: Store, experiment_id: str):
    with db.session() as session:
        return get_experiment(session=session, experiment_id=experiment_id, tenant_id=None)


# --- schema -----------------------------------------------------------------------------------


def test_migrations_build_exactly_the_models_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


# --- creating, idempotency ----------------------------------------------------------------------


def test_created_experiment_reads_back_queued_with_its_spec(store: Store) -> None:
    spec = make_spec(tags=["a", "b", "a"], optimizer={"name": "adamax"})
    with store.session() as session:
        experiment, created = create_experiment(
            session=session, tenant_id=DEFAULT_TENANT_ID, spec=spec, queue="cpu", now=T0
        )
    row = read(store, experiment.id)
    assert created
    assert row.status == ExperimentStatus.QUEUED
    assert ExperimentSpec.model_validate(row.spec) == spec
    assert (row.dataset, row.model, row.optimizer) == ("digits", "logistic_regression", "adamax")
    assert row.tag_names == ["a", "b"]
    assert row.created_at == T0


def create_with_key(db: Store, key: str, spec: ExperimentSpec) -> tuple[Any, bool]:
    """``create_experiment`` under the idempotency key ``key``: the experiment, and whether
    this call created it."""
    with db.session() as session:
        return create_experiment(
            session=session,
            tenant_id=DEFAULT_TENANT_ID,
            spec=spec,
            queue="cpu",
            idempotency_key=key,
        )


def test_same_idempotency_key_and_spec_returns_the_same_experiment(store: Store) -> None:
    first, created_first = create_with_key(store, "key-1", make_spec())
    again, created_again = create_with_key(store, "key-1", make_spec())
    assert (created_first, created_again) == (True, False)
    assert again.id == first.id


def test_same_idempotency_key_with_another_spec_is_a_conflict(store: Store) -> None:
    create_with_key(store, "k", make_spec())
    with pytest.raises(IdempotencyConflictError, match="'k'"):
        create_with_key(store, "k", make_spec(seed=1))


# --- listing ----------------------------------------------------------------------------------


def _fill_for_listing(db: Store) -> list[str]:
    ids = []
    for index in range(12):
        ids.append(
            new_experiment(
                db,
                name=f"run-{index % 4}",
                optimizer={"name": "adam" if index % 2 else "adamax"},
                tags=["study"] + (["long"] if index % 3 == 0 else []),
                now=T0 + timedelta(seconds=index),
            )
        )
    return ids


def _all_pages(db: Store, filters: ExperimentFilters, sort: str, limit: int) -> list[Any]:
    rows, cursor, counts = [], None, set()
    for _ in range(100):
        with db.session() as session:
            page = list_experiments(
                session=session,
                tenant_id=None,
                filters=filters,
                sort=sort,
                cursor=cursor,
                limit=limit,
            )
        rows += page.data
        counts.add(page.count)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(counts) == 1 and counts.pop() == len(rows)
    return rows


def test_filters_apply_before_paging(store: Store) -> None:
    _fill_for_listing(store)
    filters = ExperimentFilters(optimizer=["adam"], tags=["study", "long"])
    rows = _all_pages(store, filters, sort="-created_at", limit=1)
    # index % 2 == 1 and index % 3 == 0: 3 and 9
    assert [row.created_at for row in rows] == [
        T0 + timedelta(seconds=9),
        T0 + timedelta(seconds=3),
    ]
    assert all(row.optimizer == "adam" and "long" in row.tag_names for row in rows)


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "name", "-name", "-optimizer"])
def test_pages_cover_every_row_once_in_sort_order(store: Store, sort: str) -> None:
    ids = _fill_for_listing(store)
    rows = _all_pages(store, ExperimentFilters(), sort=sort, limit=5)
    assert sorted(row.id for row in rows) == sorted(ids)
    key = sort.removeprefix("-")
    expected = sorted(rows, key=lambda row: (getattr(row, key), row.id), reverse=sort[0] == "-")
    assert [row.id for row in rows] == [row.id for row in expected]


def test_filter_by_status_and_name(store: Store) -> None:
    ids = _fill_for_listing(store)
    with store.session() as session:
        request_cancel(session=session, experiment_id=ids[0], tenant_id=None)
    rows = _all_pages(store, ExperimentFilters(status=["cancelled"]), sort="name", limit=10)
    assert [row.id for row in rows] == [ids[0]]
    rows = _all_pages(store, ExperimentFilters(name=["run-1", "run-2"]), sort="name", limit=2)
    assert len(rows) == 6


def test_foreign_or_mismatched_cursor_is_refused(store: Store) -> None:
    _fill_for_listing(store)
    with store.session() as session:
        page = list_experiments(
            session=session, tenant_id=None, filters=ExperimentFilters(), sort="name", limit=2
        )
        with pytest.raises(InvalidCursorError, match="sort"):
            list_experiments(
                session=session,
                tenant_id=None,
                filters=ExperimentFilters(),
                sort="-name",
                cursor=page.next_cursor,
            )
        with pytest.raises(InvalidCursorError):
            list_experiments(
                session=session, tenant_id=None, filters=ExperimentFilters(), cursor="garbage!"
            )


def _fill_with_final_metrics(db: Store) -> dict[str, float | None]:
    """Experiments and their final test_acc: ties, runs without it (queued, failed before
    an epoch, a non-finite value, a metric of another task), and values of several
    magnitudes. Returns each id's test_acc (None: none)."""
    accuracies: list[float | None] = [0.5, 0.9, 0.9, 0.1, 1.0, 0.9, 1e-7, 0.5, 0.25, 0.9]
    expected: dict[str, float | None] = {}
    for index, accuracy in enumerate(accuracies):
        experiment_id = new_experiment(db, now=T0 + timedelta(seconds=index))
        lease_id = claim(db, experiment_id).lease_id
        finish(
            db,
            experiment_id,
            lease_id,
            ExperimentStatus.SUCCEEDED,
            final_metrics={"test_acc": accuracy, "test_loss": 1.0 - (accuracy or 0)},
        )
        expected[experiment_id] = accuracy
    expected[new_experiment(db, now=T0 + timedelta(seconds=20))] = None  # queued
    failed = new_experiment(db, now=T0 + timedelta(seconds=21))
    finish(db, failed, claim(db, failed).lease_id, ExperimentStatus.FAILED, error="boom")
    expected[failed] = None
    for offset, metrics in enumerate(({"test_acc": math.nan}, {"test_mse": 0.5})):
        other = new_experiment(db, now=T0 + timedelta(seconds=30 + offset))
        finish(
            db, other, claim(db, other).lease_id, ExperimentStatus.SUCCEEDED, final_metrics=metrics
        )
        expected[other] = None
    return expected


@pytest.mark.parametrize("limit", [1, 3, 4])
@pytest.mark.parametrize("sort", ["test_acc", "-test_acc"])
def test_pages_of_a_metric_sort_cover_every_row_once_runs_without_it_last(
    store: Store, sort: str, limit: int
) -> None:
    accuracies = _fill_with_final_metrics(store)
    rows = _all_pages(store, ExperimentFilters(), sort=sort, limit=limit)
    assert len(rows) == len({row.id for row in rows}) == len(accuracies)
    descending = sort.startswith("-")
    with_value = sorted(
        (experiment_id for experiment_id, value in accuracies.items() if value is not None),
        key=lambda experiment_id: (accuracies[experiment_id], experiment_id),
        reverse=descending,
    )
    without = sorted(
        (experiment_id for experiment_id, value in accuracies.items() if value is None),
        reverse=descending,
    )
    assert [row.id for row in rows] == with_value + without


def test_metric_sort_pages_stay_put_when_runs_finish_meanwhile(store: Store) -> None:
    accuracies = _fill_with_final_metrics(store)
    with store.session() as session:
        first = list_experiments(
            session=session, tenant_id=None, filters=ExperimentFilters(), sort="-test_acc", limit=4
        )
    # A run finishing with the best accuracy of all sorts before the page already read.
    late = new_experiment(store)
    finish(
        store,
        late,
        claim(store, late).lease_id,
        ExperimentStatus.SUCCEEDED,
        final_metrics={"test_acc": 2.0},
    )
    rest, cursor = [], first.next_cursor
    while cursor is not None:
        with store.session() as session:
            page = list_experiments(
                session=session,
                tenant_id=None,
                filters=ExperimentFilters(),
                sort="-test_acc",
                cursor=cursor,
                limit=4,
            )
        rest += page.data
        cursor = page.next_cursor
    seen = [row.id for row in first.data + rest]
    assert sorted(seen) == sorted(accuracies)


def test_metric_cursor_holds_a_number_or_null(store: Store) -> None:
    from core.store.paging import encode_cursor

    _fill_with_final_metrics(store)
    some_id = "00000000-0000-4000-8000-000000000000"
    with store.session() as session:
        for sort, value in (("test_acc", "0.5"), ("test_acc", True), ("name", None)):
            with pytest.raises(InvalidCursorError):
                list_experiments(
                    session=session,
                    tenant_id=None,
                    filters=ExperimentFilters(),
                    sort=sort,
                    cursor=encode_cursor({"sort": sort, "value": value, "id": some_id}),
                )
        with pytest.raises(ValueError, match="sort must be one of"):
            list_experiments(
                session=session, tenant_id=None, filters=ExperimentFilters(), sort="-batch_loss"
            )


def test_name_contains_is_a_case_insensitive_substring_with_wildcards_as_text(
    store: Store,
) -> None:
    names = ["MNIST-adam", "mnist_adamax", "mnistXadamax", "100%-digits", "100x-digits", "cnn"]
    ids = {name: new_experiment(store, name=name) for name in names}

    def matching(text: str) -> set[str]:
        filters = ExperimentFilters(name_contains=text)
        return {row.name for row in _all_pages(store, filters, sort="name", limit=2)}

    assert matching("mnist") == {"MNIST-adam", "mnist_adamax", "mnistXadamax"}
    assert matching("ADAMAX") == {"mnist_adamax", "mnistXadamax"}
    assert matching("_") == {"mnist_adamax"}  # not "any one character"
    assert matching("%") == {"100%-digits"}  # not "anything"
    assert matching("t_a") == {"mnist_adamax"}
    assert matching("nope") == set()
    both = ExperimentFilters(name_contains="adam", optimizer=["adam"])
    assert {row.id for row in _all_pages(store, both, sort="name", limit=10)} == {
        ids["MNIST-adam"],
        ids["mnist_adamax"],
        ids["mnistXadamax"],
    }


# --- the run's life cycle ---------------------------------------------------------------------


def test_only_one_of_two_claims_wins(store: Store) -> None:
    experiment_id = new_experiment(store)
    first = claim(store, experiment_id)
    second = claim(store, experiment_id, now=T0 + timedelta(seconds=1))
    assert first is not None and first.attempt == 1
    assert second is None
    row = read(store, experiment_id)
    assert (row.status, row.lease_id, row.started_at) == ("running", first.lease_id, T0)


def test_claim_takes_over_a_job_whose_heartbeat_is_stale(store: Store) -> None:
    experiment_id = new_experiment(store)
    first = claim(store, experiment_id)
    later = T0 + timedelta(seconds=TIMEOUT_S + 1)
    second = claim(store, experiment_id, now=later)
    assert second is not None and second.attempt == 2 and second.lease_id != first.lease_id
    assert read(store, experiment_id).started_at == T0  # the first start is kept
    with store.session() as session:  # the first worker's lease is gone
        reply = record_heartbeat(
            session=session, experiment_id=experiment_id, lease_id=first.lease_id, now=later
        )
        assert not reply.lease_held
        assert not finish_experiment(
            session=session,
            experiment_id=experiment_id,
            lease_id=first.lease_id,
            status=ExperimentStatus.SUCCEEDED,
        )


def test_claim_of_a_job_out_of_attempts_fails_it(store: Store) -> None:
    experiment_id = new_experiment(store)
    assert claim(store, experiment_id, max_attempts=1) is not None
    assert claim(store, experiment_id, now=T0 + timedelta(minutes=5), max_attempts=1) is None
    row = read(store, experiment_id)
    assert row.status == "failed"
    assert "1 attempts" in row.error


def test_cancelled_queued_job_is_never_claimed(store: Store) -> None:
    experiment_id = new_experiment(store)
    with store.session() as session:
        assert (
            request_cancel(session=session, experiment_id=experiment_id, tenant_id=None)
            is CancelOutcome.CANCELLED
        )
    assert claim(store, experiment_id) is None
    row = read(store, experiment_id)
    assert (row.status, row.started_at, row.attempts) == ("cancelled", None, 0)


def test_cancel_of_running_job_reaches_its_heartbeat_and_stays_cancelled(store: Store) -> None:
    experiment_id = new_experiment(store)
    lease = claim(store, experiment_id)
    with store.session() as session:
        assert (
            request_cancel(session=session, experiment_id=experiment_id, tenant_id=None)
            is CancelOutcome.STOPPING
        )
        reply = record_heartbeat(
            session=session,
            experiment_id=experiment_id,
            lease_id=lease.lease_id,
            progress=Progress(epoch=1, epochs=2, step=5, total_steps=10, fraction=0.5, eta_s=3.0),
        )
        assert reply.lease_held and reply.cancel_requested
        assert finish_experiment(
            session=session,
            experiment_id=experiment_id,
            lease_id=lease.lease_id,
            status=ExperimentStatus.CANCELLED,
        )
        assert (  # a repeat after the job stopped: it is cancelled, as asked
            request_cancel(session=session, experiment_id=experiment_id, tenant_id=None)
            is CancelOutcome.CANCELLED
        )
        assert (
            request_cancel(session=session, experiment_id="nope", tenant_id=None)
            is CancelOutcome.NOT_FOUND
        )
    row = read(store, experiment_id)
    assert (row.status, row.step, row.fraction) == ("cancelled", 5, 0.5)


def cancel(db: Store, experiment_id: str) -> CancelOutcome:
    with db.session() as session:
        return request_cancel(session=session, experiment_id=experiment_id, tenant_id=None)


def finish(db: Store, experiment_id: str, lease_id: str, status: ExperimentStatus, **ending: Any):
    with db.session() as session:
        return finish_experiment(
            session=session, experiment_id=experiment_id, lease_id=lease_id, status=status, **ending
        )


@pytest.mark.parametrize(
    ("reached", "error"), [(ExperimentStatus.SUCCEEDED, None), (ExperimentStatus.FAILED, "boom")]
)
def test_finish_of_a_job_asked_to_cancel_records_cancelled(
    store: Store, reached: ExperimentStatus, error: str | None
) -> None:
    experiment_id = new_experiment(store)
    lease = claim(store, experiment_id)
    assert cancel(store, experiment_id) is CancelOutcome.STOPPING
    # The run ends before its worker's next heartbeat could read the flag.
    recorded = finish(
        store, experiment_id, lease.lease_id, reached, final_metrics={"test_acc": 0.5}, error=error
    )
    assert recorded is ExperimentStatus.CANCELLED
    row = read(store, experiment_id)
    assert (row.status, row.cancel_requested) == ("cancelled", True)
    assert row.error == (error or "cancelled at the user's request")
    assert row.final_metrics == {"test_acc": 0.5}
    assert cancel(store, experiment_id) is CancelOutcome.CANCELLED


def test_finish_without_a_cancel_records_the_runs_status(store: Store) -> None:
    experiment_id = new_experiment(store)
    lease = claim(store, experiment_id)
    assert finish(store, experiment_id, lease.lease_id, ExperimentStatus.SUCCEEDED) == "succeeded"
    assert (read(store, experiment_id).status, read(store, experiment_id).error) == (
        "succeeded",
        None,
    )
    # Finished before the cancel came: the answer says so, every time.
    assert [cancel(store, experiment_id) for _ in range(2)] == [CancelOutcome.FINISHED] * 2


def test_repeated_cancels_answer_the_same(store: Store) -> None:
    queued, running = new_experiment(store), new_experiment(store)
    claim(store, running)
    assert [cancel(store, queued) for _ in range(3)] == [CancelOutcome.CANCELLED] * 3
    assert [cancel(store, running) for _ in range(3)] == [CancelOutcome.STOPPING] * 3
    row = read(store, queued)
    assert (row.status, row.started_at, row.finished_at is not None) == ("cancelled", None, True)


def test_simultaneous_cancels_of_a_queued_job_answer_the_same(store: Store) -> None:
    experiment_id = new_experiment(store)
    answers = at_once([lambda: cancel(store, experiment_id)] * 4)
    assert answers == [CancelOutcome.CANCELLED] * 4


def test_released_job_is_queued_again_and_claimed_at_once(store: Store) -> None:
    experiment_id = new_experiment(store)
    lease = claim(store, experiment_id)
    progress = Progress(epoch=2, epochs=4, step=20, total_steps=40, fraction=0.5, eta_s=3.0)
    with store.session() as session:
        assert release_experiment(
            session=session, experiment_id=experiment_id, lease_id=lease.lease_id, progress=progress
        )
        # Not the lease's any more: a second release, a heartbeat or a finish changes nothing.
        assert not release_experiment(
            session=session, experiment_id=experiment_id, lease_id=lease.lease_id
        )
    row = read(store, experiment_id)
    assert (row.status, row.lease_id, row.heartbeat_at, row.worker) == ("queued", None, None, None)
    assert (row.attempts, row.step, row.eta_s) == (0, 20, None)
    assert "handed back" in row.error
    again = claim(store, experiment_id, now=T0 + timedelta(seconds=1))  # no timeout to wait
    assert again is not None and again.attempt == 1


def test_released_job_that_was_asked_to_cancel_ends_cancelled(store: Store) -> None:
    experiment_id = new_experiment(store)
    lease = claim(store, experiment_id)
    assert cancel(store, experiment_id) is CancelOutcome.STOPPING
    with store.session() as session:
        assert release_experiment(
            session=session, experiment_id=experiment_id, lease_id=lease.lease_id, now=T0
        )
    row = read(store, experiment_id)
    assert (row.status, row.finished_at, row.lease_id) == ("cancelled", T0, None)


def test_queued_jobs_of_a_queue_without_worker_fail_after_the_timeout(store: Store) -> None:
    old, recent = new_experiment(store), new_experiment(store, now=T0 + timedelta(seconds=50))
    gpu = new_experiment(store, device="cuda")
    with store.session() as session:
        session.execute(update(ExperimentRow).where(ExperimentRow.id == gpu).values(queue="gpu"))
        session.commit()

    def sweep(*, unserved_since: datetime, now: datetime) -> list[str]:
        with store.session() as session:
            return fail_unserved_experiments(
                session=session, queue="cpu", unserved_since=unserved_since, timeout_s=30, now=now
            )

    # The queue lost its worker only 10 s ago: nobody has waited 30 s without one.
    assert sweep(unserved_since=T0 + timedelta(seconds=60), now=T0 + timedelta(seconds=70)) == []
    assert sweep(unserved_since=T0, now=T0 + timedelta(seconds=60)) == [old]
    row = read(store, old)
    assert row.status == "failed" and row.finished_at == T0 + timedelta(seconds=60)
    assert "queue 'cpu'" in row.error and "ADAMLAB_NO_WORKER_TIMEOUT_S" in row.error
    assert (read(store, recent).status, read(store, gpu).status) == ("queued", "queued")


def test_finish_stores_metrics_with_non_finite_values_as_null(store: Store) -> None:
    experiment_id = new_experiment(store)
    lease = claim(store, experiment_id)
    with store.session() as session:
        assert finish_experiment(
            session=session,
            experiment_id=experiment_id,
            lease_id=lease.lease_id,
            status=ExperimentStatus.SUCCEEDED,
            final_metrics={"test_acc": 0.9, "train_loss": math.nan},
            device="cpu",
        )
    row = read(store, experiment_id)
    assert row.final_metrics == {"test_acc": 0.9, "train_loss": None}
    assert (row.status, row.device, row.fraction) == ("succeeded", "cpu", 1.0)


# --- the reaper -------------------------------------------------------------------------------


def test_reaper_requeues_a_lost_job_and_sends_its_message(store: Store) -> None:
    lost, alive = new_experiment(store), new_experiment(store)
    claim(store, lost)
    claim(store, alive, now=T0 + timedelta(seconds=TIMEOUT_S), worker="another")
    sent: list[tuple[str, str]] = []
    with store.session() as session:
        report = reap_lost_experiments(
            session=session,
            heartbeat_timeout_s=TIMEOUT_S,
            max_attempts=3,
            dispatch=lambda experiment_id, queue: sent.append((experiment_id, queue)),
            now=T0 + timedelta(seconds=TIMEOUT_S + 1),
        )
    assert report.requeued == [lost] and report.failed == []
    assert sent == [(lost, "cpu")]
    row = read(store, lost)
    assert (row.status, row.lease_id, row.attempts) == ("queued", None, 1)
    assert "requeued" in row.error
    assert read(store, alive).status == "running"
    again = claim(store, lost, now=T0 + timedelta(seconds=TIMEOUT_S + 2))
    assert again is not None and again.attempt == 2


def test_reaper_requeues_every_running_job_of_a_worker_with_a_lost_one(store: Store) -> None:
    """A group's members beat from one process: one gone quiet, all are gone."""
    quiet, mate, elsewhere = new_experiment(store), new_experiment(store), new_experiment(store)
    claim(store, quiet)
    claim(store, mate, now=T0 + timedelta(seconds=TIMEOUT_S))  # beat just now
    claim(store, elsewhere, now=T0 + timedelta(seconds=TIMEOUT_S), worker="another")
    sent: list[tuple[str, str]] = []
    with store.session() as session:
        report = reap_lost_experiments(
            session=session,
            heartbeat_timeout_s=TIMEOUT_S,
            max_attempts=3,
            dispatch=lambda experiment_id, queue: sent.append((experiment_id, queue)),
            now=T0 + timedelta(seconds=TIMEOUT_S + 1),
        )
    assert sorted(report.requeued) == sorted([quiet, mate])
    assert sorted(sent) == sorted([(quiet, "cpu"), (mate, "cpu")])
    assert read(store, mate).status == "queued" and read(store, elsewhere).status == "running"


def test_a_claim_takes_a_running_job_of_a_worker_known_gone(store: Store) -> None:
    held = new_experiment(store)
    claim(store, held, worker="gone")
    later = T0 + timedelta(seconds=1)  # its heartbeat is fresh
    with store.session() as session:
        refused = claim_experiment(
            session=session, experiment_id=held, worker="w2", heartbeat_timeout_s=TIMEOUT_S,
            max_attempts=3, now=later,
        )  # fmt: skip
        taken = claim_experiment(
            session=session, experiment_id=held, worker="w2", heartbeat_timeout_s=TIMEOUT_S,
            max_attempts=3, now=later, dead_worker="gone",
        )  # fmt: skip
    assert refused is None
    assert taken is not None and taken.taken_from == "gone" and taken.attempt == 2


def test_reaper_fails_a_lost_job_out_of_attempts(store: Store) -> None:
    experiment_id = new_experiment(store)
    claim(store, experiment_id, max_attempts=1)
    with store.session() as session:
        report = reap_lost_experiments(
            session=session,
            heartbeat_timeout_s=TIMEOUT_S,
            max_attempts=1,
            dispatch=lambda *_: pytest.fail("nothing to send"),
            now=T0 + timedelta(minutes=1),
        )
    assert report.failed == [experiment_id]
    row = read(store, experiment_id)
    assert row.status == "failed" and "heartbeats" in row.error


def test_lost_job_that_was_asked_to_stop_ends_cancelled_not_requeued(store: Store) -> None:
    reaped, redelivered = new_experiment(store), new_experiment(store)
    for experiment_id in (reaped, redelivered):
        claim(store, experiment_id)
        with store.session() as session:
            request_cancel(session=session, experiment_id=experiment_id, tenant_id=None)
    later = T0 + timedelta(minutes=1)
    assert claim(store, redelivered, now=later) is None  # a redelivery finds it first
    with store.session() as session:
        report = reap_lost_experiments(
            session=session,
            heartbeat_timeout_s=TIMEOUT_S,
            max_attempts=3,
            dispatch=lambda *_: pytest.fail("nothing to send"),
            now=later,
        )
    assert report.cancelled == [reaped]
    for experiment_id in (reaped, redelivered):
        row = read(store, experiment_id)
        assert (row.status, row.finished_at) == ("cancelled", later)


def test_reaper_leaves_the_job_stale_when_the_broker_refuses(store: Store) -> None:
    experiment_id = new_experiment(store)
    claim(store, experiment_id)

    def broker_down(experiment_id: str, queue: str) -> None:
        raise ConnectionError("broker down")

    with store.session() as session, pytest.raises(ConnectionError):
        reap_lost_experiments(
            session=session,
            heartbeat_timeout_s=TIMEOUT_S,
            max_attempts=3,
            dispatch=broker_down,
            now=T0 + timedelta(minutes=1),
        )
    assert read(store, experiment_id).status == "running"  # found again by the next sweep


# --- metric points ----------------------------------------------------------------------------


def test_upsert_replaces_a_point_with_the_same_name_and_step(store: Store) -> None:
    experiment_id = new_experiment(store)
    with store.session() as session:
        upsert_metric_points(
            session=session,
            experiment_id=experiment_id,
            points=[MetricPoint("loss", step, 1.0 / step, 1) for step in range(1, 2001)],
        )
        upsert_metric_points(
            session=session,
            experiment_id=experiment_id,
            points=[MetricPoint("loss", 5, 42.0, 1), MetricPoint("loss", 2001, math.inf, 2)],
        )
        curve = read_curve(session=session, experiment_id=experiment_id, name="loss")
    assert len(curve) == 2001
    assert curve.values[4] == 42.0
    assert curve.values[-1] is None  # not finite: read back as null
    assert curve.steps == list(range(1, 2002))


def test_curve_step_range_and_history_pages(store: Store) -> None:
    experiment_id = new_experiment(store)
    points = [MetricPoint(name, step, float(step), 1) for step in range(1, 51) for name in "ab"]
    with store.session() as session:
        upsert_metric_points(session=session, experiment_id=experiment_id, points=points)
        curve = read_curve(
            session=session, experiment_id=experiment_id, name="a", step_min=10, step_max=19
        )
        assert curve.steps == list(range(10, 20))
        paged, after = [], None
        for _ in range(100):
            page = read_history(session=session, experiment_id=experiment_id, after=after, limit=7)
            if not page:
                break
            paged += page
            after = (page[-1].step, page[-1].name)
    assert [(point.step, point.name) for point in paged] == [(p.step, p.name) for p in points]


def make_curve(values: list[float | None]) -> MetricSeries:
    steps = list(range(1, len(values) + 1))
    return MetricSeries(steps=steps, epochs=[1] * len(values), values=list(values))


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)), max_size=300
    ),
    max_points=st.integers(min_value=1, max_value=64),
)
def test_downsample_keeps_ends_and_extremes_within_the_budget(
    values: list[float | None], max_points: int
) -> None:
    curve = make_curve(values)
    kept = downsample(curve, max_points=max_points)
    assert len(kept) <= max_points
    assert kept.steps == sorted(set(kept.steps))
    assert all(
        curve.values[step - 1] == value for step, value in zip(kept.steps, kept.values, strict=True)
    )
    if len(curve) <= max_points:
        assert kept == curve
        return
    assert kept.steps[-1] == curve.steps[-1]
    if max_points >= 2:
        assert kept.steps[0] == curve.steps[0]
    finite = [value for value in values if value is not None]
    if max_points >= 4 and finite:
        kept_values = [value for value in kept.values if value is not None]
        assert max(kept_values) == max(finite) and min(kept_values) == min(finite)
    if max_points == 3 and finite:  # last, first, then the maximum
        assert max(finite) in kept.values


def test_downsample_keeps_every_bucket_spike() -> None:
    values: list[float | None] = [0.0] * 1000
    for spike in (13, 377, 999):
        values[spike] = 100.0
    values[500] = -100.0
    kept = downsample(make_curve(values), max_points=40)
    assert set(kept.steps) >= {1, 14, 378, 501, 1000}


# --- checkpoints ------------------------------------------------------------------------------


def test_checkpoint_index_follows_the_files(store: Store) -> None:
    experiment_id = new_experiment(store)

    def file(epoch: int) -> CheckpointFile:
        return CheckpointFile(f"/ck/epoch-{epoch:04d}.pt", epoch, 100 + epoch, T0)

    with store.session() as session:
        sync_checkpoints(session=session, experiment_id=experiment_id, files=[file(1), file(2)])
        sync_checkpoints(session=session, experiment_id=experiment_id, files=[file(2), file(3)])
        rows = list_checkpoints(session=session, experiment_id=experiment_id)
    assert [(row.epoch, row.size_bytes) for row in rows] == [(2, 102), (3, 103)]
