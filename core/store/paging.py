"""The page cursor of every keyset-paged listing (experiments, metric history).

A cursor is the JSON of the last row's keyset, URL-safe base64 without padding: opaque to
clients, cheap to check. Each listing decides what the JSON holds and validates its
shape; the codec refuses what no page could have put there and a query could not bind:
an integer outside the 64-bit range of a BigInteger column, a non-finite number, text
with a control character (``core.text``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math

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
