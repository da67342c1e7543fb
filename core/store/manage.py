"""Store functions of run management: deleting an experiment, editing its name, tags and
note. Like ``core.store.experiments``, each takes a keyword-only ``tenant_id`` (None: any
tenant's, written out) and treats another tenant's experiment as absent.

Deleting is one transaction that removes the experiment's row first and then its tags,
metric points and index of checkpoint files. A worker still running it learns at its next
heartbeat that its lease is gone (the row is) and stops; what it writes meanwhile cannot
bring anything back: metric points and checkpoint rows of an experiment that no longer
exists are refused by their foreign keys and dropped (``core.store.metrics``,
``core.store.checkpoints``), its other writes are UPDATEs that match no row, and the
worker removes the experiment's folder itself once it has stopped (``worker/tasks.py``).
The folder on disk is the caller's to remove (``core.run_folder``), after this commits.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from core.store.event_feed import announce_deleted
from core.store.models import (
    CheckpointRow,
    ExperimentRow,
    ExperimentTagRow,
    MetricPointRow,
)
from core.store.session import serialized_on_sqlite


def experiment_exists(*, session: Session, experiment_id: str) -> bool:
    """Whether the experiment's row is still there (whoever's it is)."""
    found = session.scalar(select(ExperimentRow.id).where(ExperimentRow.id == experiment_id))
    session.commit()  # end the read's transaction: the next one sees later writes
    return found is not None


# --- deleting ---------------------------------------------------------------------------------


@serialized_on_sqlite
def delete_experiment(*, session: Session, experiment_id: str, tenant_id: str | None) -> str | None:
    """Delete the experiment and every row of it; returns the status it had (``queued``:
    it never starts; ``running``: its worker stops at its next heartbeat), or None if
    there is none (of the tenant's).

    The experiment's row goes first, in the same transaction as its dependants: from that
    statement on, a concurrent insert of a metric point or checkpoint row of it waits for
    this transaction (PostgreSQL's foreign-key check locks the parent row; SQLite has one
    writer) and then fails its foreign key, so nothing inserted meanwhile is left behind.
    ON DELETE CASCADE removes the dependants with the row; they are deleted explicitly as
    well, so that the rule does not rest on SQLite's ``foreign_keys`` pragma alone."""
    this_one = [ExperimentRow.id == experiment_id]
    if tenant_id is not None:
        this_one.append(ExperimentRow.tenant_id == tenant_id)
    status = session.scalar(delete(ExperimentRow).where(*this_one).returning(ExperimentRow.status))
    if status is None:
        session.rollback()
        return None
    for dependant in (MetricPointRow, CheckpointRow, ExperimentTagRow):
        session.execute(delete(dependant).where(dependant.experiment_id == experiment_id))
    session.commit()
    announce_deleted(experiment_id=experiment_id)
    return status


# --- editing ----------------------------------------------------------------------------------


class Unchanged(enum.Enum):
    """A field an edit leaves as it is (not the same as null: a null note clears it)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True, slots=True)
class ExperimentEdit:
    """The fields an edit writes; each ``UNCHANGED`` unless given. The values are assumed
    valid (the API's ``ExperimentUpdate`` checks them)."""

    name: str | Unchanged = UNCHANGED
    tags: Sequence[str] | Unchanged = UNCHANGED
    """The new list, replacing the old one (empty: no tags); a repeated tag is kept once."""
    note: str | None | Unchanged = UNCHANGED
    """The new note; None removes it."""


@serialized_on_sqlite
def edit_experiment(
    *, session: Session, experiment_id: str, tenant_id: str | None, edit: ExperimentEdit
) -> ExperimentRow | None:
    """Write ``edit`` to the experiment in any status, in one transaction; returns the
    experiment as it is now, or None if there is none (of the tenant's).

    The stored spec's ``name`` and ``tags`` change with the columns (they do not affect
    the training, and so the spec a client reads back stays one with the experiment). Its
    row is locked first (SELECT ... FOR UPDATE on PostgreSQL; SQLite has one writer), so
    two edits at once are applied one after the other and neither undoes the other's
    change to the spec. A worker running the experiment never writes these columns."""
    this_one = [ExperimentRow.id == experiment_id]
    if tenant_id is not None:
        this_one.append(ExperimentRow.tenant_id == tenant_id)
    spec = session.scalar(select(ExperimentRow.spec).where(*this_one).with_for_update())
    if spec is None:
        session.rollback()
        return None
    values: dict[str, object] = {}
    spec = dict(spec)
    if edit.name is not UNCHANGED:
        values["name"] = spec["name"] = edit.name
    if edit.tags is not UNCHANGED:
        tags = list(dict.fromkeys(edit.tags))
        spec["tags"] = tags
        session.execute(
            delete(ExperimentTagRow).where(ExperimentTagRow.experiment_id == experiment_id)
        )
        if tags:
            session.execute(
                insert(ExperimentTagRow),
                [
                    {"experiment_id": experiment_id, "tag": tag, "position": position}
                    for position, tag in enumerate(tags)
                ],
            )
    if edit.note is not UNCHANGED:
        values["note"] = edit.note
    if edit.name is not UNCHANGED or edit.tags is not UNCHANGED:
        values["spec"] = spec
    if values:
        session.execute(update(ExperimentRow).where(*this_one).values(**values))
    session.commit()
    session.expire_all()  # the rows were written with Core statements: read them again
    return session.scalars(select(ExperimentRow).where(*this_one)).one_or_none()
