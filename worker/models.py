"""The models: linear and logistic regression, the MLP and the CNN of the study, and the
playground's point.

``build_model(spec, input_shape, num_outputs)`` builds the module; its parameters are drawn
from torch's global RNG (PyTorch's default initialisations), which the engine seeds.
Dropout is inverted dropout (``nn.Dropout``): active in ``train()``, the identity in
``eval()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from core.spec import (
    CnnModel,
    LinearRegressionModel,
    LogisticRegressionModel,
    MlpModel,
    ModelVariant,
    PointModel,
)


class LinearRegression(nn.Module):
    """ŷ = w·x + b, one output per example, shape ``(N,)``."""

    def __init__(self, in_features: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(inputs.flatten(1))).squeeze(1)


class Point(nn.Module):
    """A test problem's position: one parameter ``position`` of shape (d,), zeros until
    the playground loop (``worker/playground.py``) sets it to the data set's start."""

    def __init__(self, dimensions: int) -> None:
        super().__init__()
        self.position = nn.Parameter(torch.zeros(dimensions))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.position


class LogisticRegression(nn.Module):
    """Logits W·x + b of multinomial logistic regression (softmax lives in the loss)."""

    def __init__(self, in_features: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(inputs.flatten(1)))


class Mlp(nn.Module):
    """flatten → [Linear → ReLU → Dropout] × len(hidden_sizes) → Linear."""

    def __init__(
        self, in_features: int, hidden_sizes: list[int], num_classes: int, dropout: float
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layers(inputs.flatten(1))


class Cnn(nn.Module):
    """Two stages of [Conv 5×5, padding 2 → MaxPool 3×3, stride 2 → ReLU], then
    flatten → Dropout → Linear(hidden) → ReLU → Dropout → Linear(classes).

    On 28×28 inputs the feature maps go 28 → 13 → 6, so the first fully connected layer
    sees channels[1]·6·6 features. Pooling before the ReLU equals ReLU before pooling
    (both are monotone) and is cheaper.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        channels: tuple[int, int],
        hidden_size: int,
        num_classes: int,
        dropout: float,
    ) -> None:
        super().__init__()
        in_channels, height, width = input_shape
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], kernel_size=5, padding=2),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.ReLU(),
            nn.Conv2d(channels[0], channels[1], kernel_size=5, padding=2),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.ReLU(),
        )
        for _ in range(2):
            height, width = _pooled(height), _pooled(width)
        if height < 1 or width < 1:
            raise ValueError(f"model 'cnn' needs inputs of at least 7×7, got {input_shape}")
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(channels[1] * height * width, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, num_classes),
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(inputs).flatten(1))


def _pooled(size: int) -> int:
    """Output size of a 3×3 max-pool with stride 2 and no padding."""
    return (size - 3) // 2 + 1


def _linear_regression(
    spec: LinearRegressionModel, input_shape: tuple[int, ...], num_outputs: int
) -> nn.Module:
    model = LinearRegression(math.prod(input_shape), spec.dropout)
    if spec.init == "zeros":
        nn.init.zeros_(model.linear.weight)
        nn.init.zeros_(model.linear.bias)
    return model


def _point(spec: PointModel, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    return Point(math.prod(input_shape))


def _logistic_regression(
    spec: LogisticRegressionModel, input_shape: tuple[int, ...], num_outputs: int
) -> nn.Module:
    return LogisticRegression(math.prod(input_shape), num_outputs, spec.dropout)


def _mlp(spec: MlpModel, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    return Mlp(math.prod(input_shape), list(spec.hidden_sizes), num_outputs, spec.dropout)


def _cnn(spec: CnnModel, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    if len(input_shape) != 3:
        raise ValueError(f"model 'cnn' needs image inputs (C, H, W), got {input_shape}")
    channels, height, width = input_shape
    return Cnn(
        (channels, height, width), spec.channels, spec.hidden_size, num_outputs, spec.dropout
    )


ModelBuilder = Callable[[Any, tuple[int, ...], int], nn.Module]
"""Builds the module of one model variant (its first argument, typed by each builder)."""

MODEL_BUILDERS: dict[str, ModelBuilder] = {
    "linear_regression": _linear_regression,
    "logistic_regression": _logistic_regression,
    "mlp": _mlp,
    "cnn": _cnn,
    "point": _point,
}
"""The builder of each model variant, by the variant's ``name``."""


def build_model(spec: ModelVariant, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """The module for ``spec`` on inputs of ``input_shape`` (without the batch dimension)."""
    return MODEL_BUILDERS[spec.name](spec, input_shape, num_outputs)
