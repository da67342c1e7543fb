"""One transition of an experiment's row: a conditional UPDATE (compare-and-set) that
commits, so two processes racing for the same row cannot both win. The life cycle's
writes (``lifecycle.py``, ``cancel.py``, ``reaping.py``) are each one of these."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, update
from sqlalchemy.orm import Session

from core.store.models import ExperimentRow


def transition(session: Session, *conditions: ColumnElement[bool], **values: object) -> bool:
    """Write ``values`` to the experiment row matching every one of ``conditions`` and
    commit; returns whether a row matched (at most one: the conditions name an id)."""
    # An UPDATE gives a CursorResult; Session.execute's stubs say only Result.
    result = session.execute(update(ExperimentRow).where(*conditions).values(**values))
    changed = cast(CursorResult[Any], result).rowcount
    session.commit()
    return changed == 1
