"""One transition of an experiment's row: a conditional UPDATE (compare-and-set) that
commits, so two processes racing for the same row cannot both win. The life cycle's
writes (``lifecycle.py``, ``cancel.py``, ``reaping.py``) are each one of these. A
transition that writes a status announces it once committed (``core.store.event_feed``)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session

from core.store.event_feed import announce_statuses
from core.store.models import ExperimentRow


def transition(session: Session, *conditions: ColumnElement[bool], **values: object) -> bool:
    """Write ``values`` to the experiment row matching every one of ``conditions`` and
    commit; returns whether a row matched (at most one: the conditions name an id)."""
    changed = session.execute(
        update(ExperimentRow)
        .where(*conditions)
        .values(**values)
        .returning(ExperimentRow.id, ExperimentRow.status)
    ).all()
    session.commit()
    if "status" in values:
        announce_statuses(session, [(row.id, row.status) for row in changed])
    return len(changed) == 1
