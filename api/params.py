"""The query parameters the routes share, declared once, so that every route takes a
client's input under the same rules (docs/api.md, "What a request may hold"):

- text is ``core.text.PlainText`` (no control characters, no NUL) with the length of the
  column it is compared with;
- integers compared with a BigInteger column stay within 0..2**63-1;
- a repeatable parameter takes at most a stated number of values.

Beyond any of them the answer is a 422 naming the parameter, before the store is asked.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, Field

from api.schemas import Status
from core.compare import MAX_COMPARED
from core.metrics import METRICS
from core.spec.experiment import MAX_TAGS
from core.store.listing import MAX_SEARCH_CHARS, SORT_KEYS, SORT_METRICS, parse_sort
from core.store.models import BIGINT_MAX
from core.store.paging import MAX_CURSOR_CHARS
from core.text import PlainText

MAX_FILTER_VALUES = 50
"""Most values of one listing filter (status, dataset, model, optimizer, name)."""
MAX_METRIC_NAMES = 32
"""Most metric names one request asks for (each is one query of the store)."""

Name = Annotated[PlainText, Field(max_length=200)]
"""An experiment's name (as the spec bounds it)."""
Label = Annotated[PlainText, Field(max_length=64)]
"""A tag, a dataset, model, optimizer or metric name (the columns' width)."""

StatusFilter = Annotated[
    list[Status] | None,
    Query(alias="status", max_length=MAX_FILTER_VALUES, description="Status(es)."),
]
DatasetFilter = Annotated[
    list[Label] | None, Query(max_length=MAX_FILTER_VALUES, description="Dataset name(s).")
]
ModelFilter = Annotated[
    list[Label] | None, Query(max_length=MAX_FILTER_VALUES, description="Model name(s).")
]
OptimizerFilter = Annotated[
    list[Label] | None, Query(max_length=MAX_FILTER_VALUES, description="Optimizer name(s).")
]
NameFilter = Annotated[
    list[Name] | None,
    Query(max_length=MAX_FILTER_VALUES, description="Experiment name(s), exact."),
]
TagFilter = Annotated[
    list[Label] | None,
    Query(max_length=MAX_TAGS, description="Every tag given must be present."),
]
NameContains = Annotated[
    PlainText | None,
    Query(
        max_length=MAX_SEARCH_CHARS,
        description="Only experiments whose name contains this text, ignoring case "
        "(% and _ are plain characters).",
    ),
]
SORT_VALUES = [value for key in SORT_KEYS for value in (key, f"-{key}")]


def _known_sort(value: str) -> str:
    parse_sort(value)  # ValueError: the keys, and the closest one
    return value


SortParam = Annotated[
    PlainText,
    Query(
        max_length=64,
        description="A column or a final metric "
        f"({', '.join(SORT_METRICS)}); '-' for descending; ties by id. Runs without the "
        "metric come last in both directions.",
        json_schema_extra={"enum": SORT_VALUES},
    ),
    AfterValidator(_known_sort),
]
Cursor = Annotated[
    PlainText | None,
    Query(max_length=MAX_CURSOR_CHARS, description="next_cursor of the previous page."),
]

MetricNames = Annotated[
    list[Label] | None,
    Query(
        alias="name",
        max_length=MAX_METRIC_NAMES,
        description="Metric name(s), e.g. train_loss; default all of them.",
    ),
]
StepMin = Annotated[
    int | None, Query(ge=0, le=BIGINT_MAX, description="First step of the range (inclusive).")
]
StepMax = Annotated[
    int | None, Query(ge=0, le=BIGINT_MAX, description="Last step of the range (inclusive).")
]

CompareIds = Annotated[
    list[Annotated[PlainText, Field(max_length=MAX_COMPARED * 37)]],
    Query(
        alias="ids",
        max_length=MAX_COMPARED,
        description="Experiment ids, comma-separated (ids=a,b,c) or repeated (ids=a&ids=b); "
        f"1 to {MAX_COMPARED}.",
    ),
]
CompareMetrics = Annotated[
    list[Label],
    Query(
        alias="metric",
        max_length=MAX_METRIC_NAMES,
        description="Metric(s) to overlay, one panel each (repeat): "
        f"{', '.join(METRICS)}; default test_acc.",
    ),
]

SweepFilter = Annotated[
    PlainText | None,
    Query(max_length=36, description="Only the members of this sweep (its id)."),
]
