"""What every spec part shares: the strict base class and the bounded field types."""

from __future__ import annotations

import typing
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Task = Literal["classification", "regression", "minimization"]
"""What a data set's targets are, and so which models fit it (``minimization``: none, a test
problem's formula)."""


class SpecPart(BaseModel):
    """Base of every spec part: unknown fields are an error, values are immutable, and
    types are strict: a number field refuses a string ("0.1") and a boolean (true), an
    integer field refuses a float (2.0), a boolean field refuses 0/1 and "true". A float
    field still takes an integer (1 for lr is 1.0), as JSON does not tell them apart.

    A tuple field (``betas``, ``channels``) sets ``Field(strict=False)``: strict mode takes
    only a tuple for a tuple in Python, and a spec read back from the store, or built from
    a dict, holds JSON arrays as lists. That loosens the container alone; its items stay
    strict.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def variant_name(variant: type[SpecPart]) -> str:
    """The ``name`` a variant answers to: the one value of its ``Literal`` discriminator."""
    (name,) = typing.get_args(variant.model_fields["name"].annotation)
    return str(name)


Probability = Annotated[float, Field(ge=0.0, lt=1.0)]
BatchSize = Annotated[int, Field(ge=1, le=65_536)]
DropoutRate = Annotated[
    float,
    Field(
        ge=0.0,
        lt=1.0,
        description="Probability of zeroing a unit during training (inverted dropout); "
        "default 0.0, no dropout. Where it applies is stated by each model.",
    ),
]
