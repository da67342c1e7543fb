"""The page cursor of every keyset-paged listing (experiments, metric history).

A cursor is the JSON of the last row's keyset, URL-safe base64 without padding: opaque to
clients, cheap to check. Each listing decides what the JSON holds and validates it.
"""

from __future__ import annotations

import base64
import binascii
import json

from core.store.models import JsonValue


class InvalidCursorError(ValueError):
    """A page cursor that this listing did not produce."""


def encode_cursor(keyset: JsonValue) -> str:
    """The cursor that carries ``keyset`` (compact JSON, URL-safe base64, unpadded)."""
    raw = json.dumps(keyset, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, message: str) -> JsonValue:
    """The keyset ``cursor`` carries; ``InvalidCursorError(message)`` when it is not a
    cursor at all. The caller checks the keyset's shape (and raises the same error)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded: JsonValue = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursorError(message) from exc
    return decoded
