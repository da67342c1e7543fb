"""Other representations of a resource than JSON, chosen by the request's Accept header:
metric curves as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

CSV_MEDIA_TYPE = "text/csv"
CSV_COLUMNS = ("name", "step", "epoch", "value")


def _quality(media_range: str) -> tuple[str, float]:
    """``"text/csv;q=0.5"`` → ``("text/csv", 0.5)``; a malformed q counts as 0."""
    media_type, *params = (part.strip() for part in media_range.split(";"))
    quality = 1.0
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
    return media_type.lower(), quality


def prefers_csv(accept: str | None) -> bool:
    """Whether the Accept header asks for CSV rather than JSON: ``text/csv`` is listed
    with a quality above 0 and at least that of ``application/json`` (an exact JSON range
    wins a tie, wildcards do not count for CSV). No header, or ``*/*``, is JSON."""
    if not accept:
        return False
    qualities: dict[str, float] = {}
    for media_range in accept.split(","):
        if media_range.strip():
            media_type, quality = _quality(media_range)
            qualities[media_type] = max(quality, qualities.get(media_type, 0.0))
    csv_quality = qualities.get(CSV_MEDIA_TYPE, 0.0)
    json_quality = qualities.get("application/json", 0.0)
    return csv_quality > 0.0 and csv_quality > json_quality


def points_csv(rows: Iterable[tuple[str, int, int, float | None]]) -> str:
    """CSV with the header ``name,step,epoch,value`` and one line per point; a value that
    was not finite is an empty cell. Floats are written with ``repr`` (the shortest text
    that reads back to the same float), as JSON writes them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for name, step, epoch, value in rows:
        writer.writerow((name, step, epoch, "" if value is None else repr(value)))
    return buffer.getvalue()
