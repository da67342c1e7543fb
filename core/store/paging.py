"""The page cursor of every keyset-paged listing (experiments, metric history).

A cursor is the JSON of the last row's keyset, URL-safe base64 without padding: opaque to
clients, cheap to check. Each listing decides what the JSON holds and validates its
shape; the codec refuses what no page could have put there and a query could not bind:
an integer outside the 64-bit range of a BigInteger column, a non-finite number, text
with a control character (``core.text``).

``keyset_order`` and ``keyset_after`` are the ORDER BY and the WHERE of the page after a
cursor's row, for a listing sorted by one value with ties by id, that value possibly NULL
(sorted last in both directions).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import QueryableAttribute

from core.store.models import BIGINT_MAX, JsonValue
from core.text import refused_character

MAX_CURSOR_CHARS = 1024
"""Longer than any cursor a page returns (a sort value of 200 characters, an id)."""


class InvalidCursorError(ValueError):
    """A page cursor that this listing did not produce."""


def encode_cursor(keyset: JsonValue) -> str:
    """The cursor that carries ``keyset`` (compact JSON, URL-safe base64, unpadded)."""
    raw = json.dumps(keyset, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, message: str) -> JsonValue:
    """The keyset ``cursor`` carries; ``InvalidCursorError(message)`` when it is not a
    cursor at all or holds a value no page puts in one. The caller checks the keyset's
    shape (and raises the same error)."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise InvalidCursorError(message)
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded: JsonValue = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidCursorError(message) from exc
    if not _bindable(decoded):
        raise InvalidCursorError(message)
    return decoded


def _bindable(value: JsonValue) -> bool:
    """Whether every value in ``value`` can be bound to a query of the store."""
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -BIGINT_MAX - 1 <= value <= BIGINT_MAX
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return refused_character(value) is None
    if isinstance(value, list):
        return all(_bindable(item) for item in value)
    return all(refused_character(key) is None and _bindable(item) for key, item in value.items())


# --- the keyset of a sorted listing ---------------------------------------------------------

Sortable = ColumnElement[Any] | QueryableAttribute[Any]
"""A column, or an expression of columns, that a listing is sorted by."""


def keyset_order(
    value: Sortable, row_id: Sortable, *, descending: bool, nulls_last: bool
) -> list[ColumnElement[Any]]:
    """ORDER BY of a listing sorted by ``value`` with ties by ``row_id`` (both descending or
    both ascending); with ``nulls_last``, rows whose ``value`` is NULL come after every other
    row in either direction. Written as ``value IS NULL`` first, which SQLite and PostgreSQL
    order alike (false before true)."""
    order: list[ColumnElement[Any]] = [value.is_(None)] if nulls_last else []
    if descending:
        return [*order, value.desc(), row_id.desc()]
    return [*order, value.asc(), row_id.asc()]


def keyset_after(
    value: Sortable,
    row_id: Sortable,
    *,
    after_value: object,
    after_id: str,
    descending: bool,
    nulls_last: bool,
) -> ColumnElement[bool]:
    """WHERE of the page after the row (``after_value``, ``after_id``) in ``keyset_order``:
    every row past it, none of it or before it. ``after_value`` None is a row in the tail of
    rows without a value (only with ``nulls_last``)."""
    beyond_id = row_id < after_id if descending else row_id > after_id
    if after_value is None:
        return and_(value.is_(None), beyond_id)
    beyond = value < after_value if descending else value > after_value
    condition = or_(beyond, and_(value == after_value, beyond_id))
    return or_(condition, value.is_(None)) if nulls_last else condition
