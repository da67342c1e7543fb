"""The models a spec may name, each with the task it fits (classification or regression);
the modules themselves are built in ``worker/models.py``."""

from __future__ import annotations

import typing
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from core.spec.fields import DropoutRate, SpecPart, Task


class LinearRegressionModel(SpecPart):
    """y = w·x + b, trained on mean squared error. Dropout, if set, applies to the input."""

    task: ClassVar[Task] = "regression"

    name: Literal["linear_regression"]
    dropout: DropoutRate = 0.0
    init: Literal["default", "zeros"] = Field(
        "default",
        description="'default': PyTorch's initialisation of nn.Linear, from the seed; "
        "'zeros': w = b = 0 (the tutorial's start). Default 'default'.",
    )


class LogisticRegressionModel(SpecPart):
    """Multinomial logistic regression: softmax(W·x + b) on the flattened image, trained
    on cross-entropy (plus the spec's λ‖Θ‖² term). Dropout, if set, applies to the input."""

    task: ClassVar[Task] = "classification"

    name: Literal["logistic_regression"]
    dropout: DropoutRate = 0.0


class MlpModel(SpecPart):
    """Fully connected network: flattened image → [Linear → ReLU → Dropout] per hidden
    layer → Linear to the classes. Default widths [1000, 1000], Kingma & Ba's section 6.2."""

    task: ClassVar[Task] = "classification"

    name: Literal["mlp"]
    hidden_sizes: list[Annotated[int, Field(ge=1, le=65_536)]] = Field(
        default_factory=lambda: [1000, 1000],
        min_length=1,
        max_length=16,
        description="Width of each hidden layer; default [1000, 1000].",
    )
    dropout: DropoutRate = 0.0


class CnnModel(SpecPart):
    """Convolutional network: two stages of [5×5 convolution (padding 2) → 3×3 max-pool,
    stride 2 → ReLU], then Dropout → Linear → ReLU → Dropout → Linear to the classes.

    The study gives no widths; the defaults (32 then 64 channels, 1000 hidden units) are
    our choice: small first stages as usual for 28×28 digits, and the 1000-unit fully
    connected layer of Kingma & Ba's section 6.3 network.
    """

    task: ClassVar[Task] = "classification"

    name: Literal["cnn"]
    channels: tuple[Annotated[int, Field(ge=1, le=4096)], Annotated[int, Field(ge=1, le=4096)]] = (
        Field(
            (32, 64),
            strict=False,
            description="Output channels of the two conv stages; default [32, 64].",
        )
    )
    hidden_size: int = Field(
        1000, ge=1, le=65_536, description="Units of the first FC layer; default 1000."
    )
    dropout: DropoutRate = 0.0


class PointModel(SpecPart):
    """The position of a test problem (data sets ``function`` and ``reddi``): one
    parameter, a vector of the problem's dimension, starting at the data set's ``start``.
    The objective is the problem's formula at it."""

    task: ClassVar[Task] = "minimization"

    name: Literal["point"]


ModelVariant = LinearRegressionModel | LogisticRegressionModel | MlpModel | CnnModel | PointModel
ModelSpec = Annotated[ModelVariant, Field(discriminator="name")]
MODEL_VARIANTS: tuple[type[ModelVariant], ...] = typing.get_args(ModelVariant)
