"""Run management in the store, on SQLite and on a real PostgreSQL: deleting an
experiment removes every row of it and nothing of any other, its worker's late writes
bring nothing back, and an edit changes the name, tags and note (and the spec's name and
tags) in any status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.metrics import MetricPoint, Progress
from core.spec import ExperimentSpec
from core.store.cancel import request_cancel
from core.store.checkpoints import CheckpointFile, sync_checkpoints
from core.store.experiments import create_experiment, get_experiment
from core.store.lifecycle import Claim, claim_experiment, finish_experiment, record_heartbeat
from core.store.listing import ExperimentFilters, list_experiments
from core.store.manage import (
    ExperimentEdit,
    delete_experiment,
    edit_experiment,
    experiment_exists,
)
from core.store.metrics import upsert_metric_points
from core.store.models import (
    DEFAULT_TENANT_ID,
    CheckpointRow,
    ExperimentStatus,
    ExperimentTagRow,
    MetricPointRow,
)
from core.store.tenants import get_or_create_tenant
from tests.factories import digits_body
from tests.support.store import Store

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
POINTS = [MetricPoint(name="batch_loss", step=step, value=1.0 / step, epoch=1) for step in (1, 2)]


def new_experiment(db: Store, *, tenant_id: str = DEFAULT_TENANT_ID, **overrides: Any) -> str:
    spec = ExperimentSpec.model_validate(digits_body(name="exp", epochs=2) | overrides)
    with db.session() as session:
        experiment, _ = create_experiment(
            session=session, tenant_id=tenant_id, spec=spec, queue="cpu", now=T0
        )
        return experiment.id


def running(db: Store, experiment_id: str) -> Claim:
    """The experiment claimed by a worker, with two points and a checkpoint row."""
    with db.session() as session:
        claim = claim_experiment(
            session=session,
            experiment_id=experiment_id,
            worker="w",
            heartbeat_timeout_s=10.0,
            max_attempts=3,
        )
        assert claim is not None
        assert upsert_metric_points(session=session, experiment_id=experiment_id, points=POINTS)
        sync_checkpoints(session=session, experiment_id=experiment_id, files=[checkpoint(1)])
    return claim


def checkpoint(epoch: int) -> CheckpointFile:
    return CheckpointFile(
        path=f"/runs/epoch-{epoch:04d}.pt", epoch=epoch, size_bytes=10, modified_at=T0
    )


def rows_of(db: Store, experiment_id: str) -> dict[str, int]:
    """How many rows of each dependent table name the experiment."""
    with db.session() as session:
        return {
            table.__tablename__: session.scalar(
                select(func.count()).select_from(table).where(table.experiment_id == experiment_id)
            )
            or 0
            for table in (MetricPointRow, CheckpointRow, ExperimentTagRow)
        }


def exists(db: Store, experiment_id: str) -> bool:
    with db.session() as session:
        return experiment_exists(session=session, experiment_id=experiment_id)


# --- deleting ---------------------------------------------------------------------------------


def test_delete_removes_every_row_of_the_experiment_and_nothing_else(store: Store) -> None:
    doomed = new_experiment(store, tags=["a", "b"])
    kept = new_experiment(store, tags=["a"])
    running(store, doomed)
    running(store, kept)
    assert rows_of(store, doomed) == {"metric_points": 2, "checkpoints": 1, "experiment_tags": 2}

    with store.session() as session:
        status = delete_experiment(session=session, experiment_id=doomed, tenant_id=None)
    assert status == ExperimentStatus.RUNNING
    assert not exists(store, doomed)
    assert rows_of(store, doomed) == {"metric_points": 0, "checkpoints": 0, "experiment_tags": 0}
    assert exists(store, kept)
    assert rows_of(store, kept) == {"metric_points": 2, "checkpoints": 1, "experiment_tags": 1}
    with store.session() as session:  # a second delete finds nothing
        assert delete_experiment(session=session, experiment_id=doomed, tenant_id=None) is None


def test_delete_is_scoped_to_the_tenant(store: Store) -> None:
    with store.session() as session:
        other = get_or_create_tenant(session=session, name="other-tenant").id
    theirs = new_experiment(store, tenant_id=other)
    with store.session() as session:
        assert (
            delete_experiment(session=session, experiment_id=theirs, tenant_id=DEFAULT_TENANT_ID)
            is None
        )
    assert exists(store, theirs)
    with store.session() as session:
        assert delete_experiment(session=session, experiment_id=theirs, tenant_id=other) == "queued"
    assert not exists(store, theirs)


def test_a_deleted_experiments_late_writes_bring_nothing_back(store: Store) -> None:
    """What its worker still sends after the delete: points, the checkpoint index, a
    heartbeat, the end of the run; and a late delivery of its message."""
    experiment_id = new_experiment(store)
    claim = running(store, experiment_id)
    with store.session() as session:
        delete_experiment(session=session, experiment_id=experiment_id, tenant_id=None)

    with store.session() as session:
        late = [MetricPoint(name="batch_loss", step=3, value=0.1, epoch=1)]
        assert upsert_metric_points(session=session, experiment_id=experiment_id, points=late) == 0
        sync_checkpoints(session=session, experiment_id=experiment_id, files=[checkpoint(2)])
        beat = record_heartbeat(
            session=session,
            experiment_id=experiment_id,
            lease_id=claim.lease_id,
            progress=Progress(epoch=1, step=3),
        )
        assert (beat.lease_held, beat.cancel_requested) == (False, False)
        ended = finish_experiment(
            session=session,
            experiment_id=experiment_id,
            lease_id=claim.lease_id,
            status=ExperimentStatus.SUCCEEDED,
            final_metrics={"test_acc": 0.9},
        )
        assert ended is None
        again = claim_experiment(
            session=session,
            experiment_id=experiment_id,
            worker="w2",
            heartbeat_timeout_s=10.0,
            max_attempts=3,
        )
        assert again is None
    assert not exists(store, experiment_id)
    assert rows_of(store, experiment_id) == {
        "metric_points": 0,
        "checkpoints": 0,
        "experiment_tags": 0,
    }


def test_a_refused_point_of_an_existing_experiment_still_raises(store: Store) -> None:
    """Only the points of a deleted experiment are dropped; any other refusal is raised."""
    experiment_id = new_experiment(store)
    no_epoch = [MetricPoint(name="batch_loss", step=1, value=1.0, epoch=None)]  # type: ignore[arg-type]
    with store.session() as session, pytest.raises(IntegrityError):
        upsert_metric_points(session=session, experiment_id=experiment_id, points=no_epoch)


# --- editing ----------------------------------------------------------------------------------


def read_row(db: Store, experiment_id: str) -> Any:
    with db.session() as session:
        return get_experiment(session=session, experiment_id=experiment_id, tenant_id=None)


def edit(db: Store, experiment_id: str, tenant_id: str | None = None, **fields: Any) -> Any:
    with db.session() as session:
        return edit_experiment(
            session=session,
            experiment_id=experiment_id,
            tenant_id=tenant_id,
            edit=ExperimentEdit(**fields),
        )


def test_edit_replaces_name_tags_and_note_and_the_spec_follows(store: Store) -> None:
    experiment_id = new_experiment(store, name="before", tags=["old", "kept"])
    edited = edit(store, experiment_id, name="after", tags=["kept", "new", "kept"], note="a\n\tb")
    assert (edited.name, edited.tag_names, edited.note) == ("after", ["kept", "new"], "a\n\tb")
    row = read_row(store, experiment_id)
    assert (row.name, row.tag_names, row.note) == ("after", ["kept", "new"], "a\n\tb")
    spec = ExperimentSpec.model_validate(row.spec)
    assert (spec.name, spec.tags) == ("after", ["kept", "new"])
    assert spec.epochs == 2  # the rest of the spec is as submitted

    # The index of tags follows: a tag filter finds the new tag, not the old one.
    with store.session() as session:
        found = list_experiments(
            session=session, tenant_id=None, filters=ExperimentFilters(tags=("new",))
        )
        gone = list_experiments(
            session=session, tenant_id=None, filters=ExperimentFilters(tags=("old",))
        )
    assert [r.id for r in found.data] == [experiment_id] and gone.count == 0


def test_edit_leaves_what_it_does_not_name_and_null_clears_the_note(store: Store) -> None:
    experiment_id = new_experiment(store, name="n", tags=["t"])
    edit(store, experiment_id, note="first")
    row = read_row(store, experiment_id)
    assert (row.name, row.tag_names, row.note) == ("n", ["t"], "first")
    edit(store, experiment_id)  # nothing named: nothing changes
    assert read_row(store, experiment_id).note == "first"
    edit(store, experiment_id, note=None, tags=[])
    row = read_row(store, experiment_id)
    assert (row.name, row.tag_names, row.note) == ("n", [], None)
    assert ExperimentSpec.model_validate(row.spec).tags == []


def test_edit_works_in_every_status_and_leaves_the_run_alone(store: Store) -> None:
    queued = new_experiment(store)
    assert edit(store, queued, name="q").status == "queued"
    live = new_experiment(store)
    claim = running(store, live)
    assert edit(store, live, name="renamed while running").status == "running"
    with store.session() as session:  # its worker's lease still holds
        beat = record_heartbeat(session=session, experiment_id=live, lease_id=claim.lease_id)
        assert beat.lease_held
        ended = finish_experiment(
            session=session,
            experiment_id=live,
            lease_id=claim.lease_id,
            status=ExperimentStatus.SUCCEEDED,
        )
    assert ended == ExperimentStatus.SUCCEEDED
    assert edit(store, live, note="done").note == "done"
    cancelled = new_experiment(store)
    with store.session() as session:
        request_cancel(session=session, experiment_id=cancelled, tenant_id=None)
    assert edit(store, cancelled, tags=["x"]).tag_names == ["x"]


def test_edit_of_another_tenants_or_a_deleted_experiment_is_none(store: Store) -> None:
    experiment_id = new_experiment(store, name="mine")
    assert edit(store, experiment_id, tenant_id="someone-else", name="theirs") is None
    assert read_row(store, experiment_id).name == "mine"
    with store.session() as session:
        delete_experiment(session=session, experiment_id=experiment_id, tenant_id=None)
    assert edit(store, experiment_id, name="gone") is None
