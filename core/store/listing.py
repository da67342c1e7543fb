"""Listing a tenant's experiments: filters (status, dataset, model, optimizer, name or a
part of it, tags), a sort by a column or a final metric, and keyset pages whose cursor
(``core.store.paging``) holds the last row's sort value and id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVarTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core.metrics import METRICS
from core.store.models import (
    ExperimentRow,
    ExperimentTagRow,
    SweepMemberRow,
)
from core.store.paging import (
    InvalidCursorError,
    Sortable,
    decode_cursor,
    encode_cursor,
    keyset_after,
    keyset_order,
)
from core.text import did_you_mean

_Columns = TypeVarTuple("_Columns")


SORT_COLUMNS = {
    "created_at": ExperimentRow.created_at,
    "name": ExperimentRow.name,
    "status": ExperimentRow.status,
    "dataset": ExperimentRow.dataset,
    "model": ExperimentRow.model,
    "optimizer": ExperimentRow.optimizer,
}
"""Columns a list can be sorted by: ``<key>`` ascending, ``-<key>`` descending, ties by id."""

SORT_METRICS = tuple(name for name, info in METRICS.items() if info.per == "epoch")
"""Final metrics a list can be sorted by (``final_metrics`` holds the last epoch's): runs
without the metric (not finished, failed before an epoch ended, a metric of another task,
a value that was not finite) come last in both directions."""

SORT_KEYS = (*SORT_COLUMNS, *SORT_METRICS)
"""Every sort key, each also with a '-' prefix for descending order."""

MAX_SEARCH_CHARS = 200
"""Longest ``name_contains``: an experiment's name is at most this long."""


@dataclass(frozen=True, slots=True)
class ExperimentFilters:
    """Filters of a listing, applied before paging. Within one filter the values are
    alternatives (status queued OR running); every tag must be present; ``name_contains``
    is a case-insensitive substring of the name (``%`` and ``_`` are plain characters)."""

    status: Sequence[str] = ()
    dataset: Sequence[str] = ()
    model: Sequence[str] = ()
    optimizer: Sequence[str] = ()
    name: Sequence[str] = ()
    tags: Sequence[str] = ()
    name_contains: str | None = None
    sweep: str | None = None
    """Only the members of this sweep."""


@dataclass(frozen=True, slots=True)
class ExperimentPage:
    data: list[ExperimentRow]
    count: int
    """How many experiments match the filters, over all pages."""
    next_cursor: str | None


def parse_sort(sort: str) -> tuple[str, bool]:
    """``"-created_at"`` → ``("created_at", True)``; raises ValueError for an unknown key."""
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key not in SORT_KEYS:
        hint = did_you_mean(sort, [*SORT_KEYS, *(f"-{known}" for known in SORT_KEYS)])
        raise ValueError(
            f"sort must be one of {', '.join(SORT_KEYS)}, each optionally prefixed with '-' "
            "for descending order" + (f"; {hint}" if hint else "")
        )
    return key, descending


def _sort_value(key: str) -> Sortable:
    """What rows are ordered by for sort key ``key``: its column, or the final metric read
    from the JSON column as a number (NULL where the run has none)."""
    if key in SORT_COLUMNS:
        return SORT_COLUMNS[key]
    return ExperimentRow.final_metrics[key].as_float()


def list_experiments(
    *,
    session: Session,
    tenant_id: str | None,
    filters: ExperimentFilters,
    sort: str = "-created_at",
    cursor: str | None = None,
    limit: int = 50,
) -> ExperimentPage:
    """One page of the experiments matching ``filters``, in ``sort`` order (keyset paging:
    a cursor holds the sort value and id of the page's last row, so pages do not shift when
    experiments are added). Only ``tenant_id``'s experiments (None: everyone's).

    A metric sort orders by the value the database reads from ``final_metrics``, and the
    cursor holds that value as the database returned it, so the next page compares the
    very number (no decimal round trip through Python between the two)."""
    key, descending = parse_sort(sort)
    value = _sort_value(key)
    nulls_last = key in SORT_METRICS
    query = _filtered(select(ExperimentRow, value), filters, tenant_id=tenant_id)
    count = (
        session.scalar(
            _filtered(select(func.count()).select_from(ExperimentRow), filters, tenant_id=tenant_id)
        )
        or 0
    )
    if cursor is not None:
        after_value, after_id = _decode_cursor(cursor, sort=sort)
        query = query.where(
            keyset_after(
                value,
                ExperimentRow.id,
                after_value=after_value,
                after_id=after_id,
                descending=descending,
                nulls_last=nulls_last,
            )
        )
    order = keyset_order(value, ExperimentRow.id, descending=descending, nulls_last=nulls_last)
    found = session.execute(query.order_by(*order).limit(limit + 1)).all()
    rows = [row for row, _value in found[:limit]]
    next_cursor = None
    if len(found) > limit:
        last, last_value = found[limit - 1]
        next_cursor = _encode_cursor(sort=sort, value=last_value, row_id=last.id)
    return ExperimentPage(data=rows, count=count, next_cursor=next_cursor)


def _filtered(
    query: Select[*_Columns], filters: ExperimentFilters, *, tenant_id: str | None
) -> Select[*_Columns]:
    if tenant_id is not None:
        query = query.where(ExperimentRow.tenant_id == tenant_id)
    for column, values in (
        (ExperimentRow.status, filters.status),
        (ExperimentRow.dataset, filters.dataset),
        (ExperimentRow.model, filters.model),
        (ExperimentRow.optimizer, filters.optimizer),
        (ExperimentRow.name, filters.name),
    ):
        if values:
            query = query.where(column.in_(list(values)))
    if filters.sweep is not None:
        query = query.where(
            ExperimentRow.id.in_(
                select(SweepMemberRow.experiment_id).where(SweepMemberRow.sweep_id == filters.sweep)
            )
        )
    if filters.name_contains is not None:
        query = query.where(ExperimentRow.name.icontains(filters.name_contains, autoescape=True))
    tags = list(dict.fromkeys(filters.tags))
    if tags:
        # One subquery on the index of tags, whatever their number: the experiments that
        # have every one of them.
        query = query.where(
            ExperimentRow.id.in_(
                select(ExperimentTagRow.experiment_id)
                .where(ExperimentTagRow.tag.in_(tags))
                .group_by(ExperimentTagRow.experiment_id)
                .having(func.count(ExperimentTagRow.tag.distinct()) == len(tags))
            )
        )
    return query


CURSOR_MESSAGE = "cursor is not one this listing returned; start again without it"


def _encode_cursor(*, sort: str, value: object, row_id: str) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    if not (value is None or isinstance(value, str | int | float)):
        raise TypeError(f"a sort value of type {type(value).__name__} cannot be in a cursor")
    return encode_cursor({"sort": sort, "value": value, "id": row_id})


def _decode_cursor(cursor: str, *, sort: str) -> tuple[object, str]:
    """The sort value and id of the row a page ended with. A column's value is text (a
    time in ISO format for created_at); a metric's is a number, or null in the tail of runs
    without it."""
    decoded = decode_cursor(cursor, message=CURSOR_MESSAGE)
    if not isinstance(decoded, dict):
        raise InvalidCursorError(CURSOR_MESSAGE)
    cursor_sort, value, row_id = decoded.get("sort"), decoded.get("value"), decoded.get("id")
    if cursor_sort != sort:
        raise InvalidCursorError(
            f"cursor was made for sort={cursor_sort!r}, not sort={sort!r}; start again without it"
        )
    if not isinstance(row_id, str):
        raise InvalidCursorError(CURSOR_MESSAGE)
    key = parse_sort(sort)[0]
    if key in SORT_METRICS:
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            return value, row_id
        raise InvalidCursorError(CURSOR_MESSAGE)
    if not isinstance(value, str):
        raise InvalidCursorError(CURSOR_MESSAGE)
    if key == "created_at":
        try:
            return datetime.fromisoformat(value), row_id
        except ValueError as exc:
            raise InvalidCursorError(CURSOR_MESSAGE) from exc
    return value, row_id
