"""Other representations of a resource than JSON: metric curves as CSV (chosen by the
request's Accept header), figures as PNG or SVG (chosen by the path's suffix)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Query, Response

from api.schemas import ErrorPublic
from core.plots.drawing import MEDIA_TYPES, ImageFormat
from core.run_environment import RunEnvironment

CSV_MEDIA_TYPE = "text/csv"
CSV_COLUMNS = ("name", "step", "epoch", "value")

IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {media_type: {} for media_type in MEDIA_TYPES.values()},
        "description": "The figure.",
    },
    409: {"model": ErrorPublic, "description": "The experiment has no points to draw yet."},
}
"""The OpenAPI ``responses`` of a route that draws a figure."""

Smoothing = Annotated[
    float,
    Query(
        ge=0.0,
        lt=1.0,
        description="Exponential moving average of the per-iteration measurements (the "
        "batch loss), 0 <= smoothing < 1: the weight of the past (0.9 averages over about "
        "10 points, 0.99 over 100). The raw values stay drawn faint under the average, "
        "whose legend says e.g. 'batch loss (EMA 0.9)'. Default 0, none.",
    ),
]
"""The ``smoothing`` query parameter of the figure routes."""


def image_response(image: bytes, image_format: ImageFormat) -> Response:
    """A figure's bytes with its media type, never cached."""
    # Curves grow while a run is under way: a figure is only valid when it is drawn.
    return Response(
        content=image, media_type=MEDIA_TYPES[image_format], headers={"Cache-Control": "no-store"}
    )


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


def points_csv(
    rows: Iterable[tuple[str, int, int, float | None]],
    *,
    environment: RunEnvironment | None = None,
) -> str:
    """CSV with the header ``name,step,epoch,value`` and one line per point; a value that
    was not finite is an empty cell. Floats are written with ``repr`` (the shortest text
    that reads back to the same float), as JSON writes them. The run's reproducibility
    record, when there is one, comes first as ``# key: value`` comment lines (read with
    ``pandas.read_csv(..., comment="#")``)."""
    buffer = io.StringIO()
    if environment is not None:
        buffer.writelines(f"# {line}\n" for line in environment.summary_lines())
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for name, step, epoch, value in rows:
        writer.writerow((name, step, epoch, "" if value is None else repr(value)))
    return buffer.getvalue()
