"""The optimizers a spec may name. Each variant's fields are its constructor's keyword
arguments, by the same names (``worker/optimizers.py`` passes them on as they are)."""

from __future__ import annotations

import typing
from typing import Annotated, Literal

from pydantic import Field, model_validator

from core.spec.fields import Probability, SpecPart

Lr = Annotated[float, Field(gt=0.0, le=1e3)]
Eps = Annotated[float, Field(gt=0.0, le=1.0)]
WeightDecay = Annotated[
    float, Field(ge=0.0, le=1e3, description="Weight decay of the optimizer; default 0.0.")
]
Betas = tuple[Probability, Probability]


class AdamFamilyOptimizer(SpecPart):
    """The fields adamlab's Adam, AdaMax and AdamW share, in their constructors' order."""

    name: str
    lr: Lr
    betas: Betas = Field((0.9, 0.999), strict=False, description="(β1, β2); default (0.9, 0.999).")
    eps: Eps = Field(1e-8, description="ε; default 1e-8.")
    weight_decay: WeightDecay = 0.0


class AdamOptimizer(AdamFamilyOptimizer):
    """adamlab's Adam (Kingma & Ba 2015, Algorithm 1)."""

    name: Literal["adam"]  # frozen model: narrowing is safe  # pyright: ignore[reportIncompatibleVariableOverride]
    lr: Lr = Field(1e-3, description="Step size α; default 0.001 (Kingma & Ba's).")
    amsgrad: bool = Field(False, description="AMSGrad's max of v; default false.")
    bias_correction: bool = Field(True, description="Correct m and v for bias; default true.")


class AdamaxOptimizer(AdamFamilyOptimizer):
    """adamlab's AdaMax (Kingma & Ba 2015, Algorithm 2, the ∞-norm variant)."""

    name: Literal["adamax"]  # frozen model: narrowing is safe  # pyright: ignore[reportIncompatibleVariableOverride]
    lr: Lr = Field(2e-3, description="Step size α; default 0.002 (Kingma & Ba's).")


class AdamwOptimizer(AdamFamilyOptimizer):
    """adamlab's AdamW (Loshchilov & Hutter 2019: decoupled weight decay)."""

    name: Literal["adamw"]  # frozen model: narrowing is safe  # pyright: ignore[reportIncompatibleVariableOverride]
    lr: Lr = Field(1e-3, description="Step size α; default 0.001.")
    weight_decay: float = Field(
        1e-2, ge=0.0, le=1e3, description="Decoupled weight decay; default 0.01."
    )
    amsgrad: bool = Field(False, description="AMSGrad's max of v; default false.")


class SgdOptimizer(SpecPart):
    """torch.optim.SGD, a baseline."""

    name: Literal["sgd"]
    lr: Lr = Field(1e-2, description="Learning rate; default 0.01.")
    momentum: Probability = Field(0.0, description="Momentum; default 0.0.")
    dampening: Probability = Field(0.0, description="Dampening of momentum; default 0.0.")
    nesterov: bool = Field(False, description="Nesterov momentum; default false.")
    weight_decay: WeightDecay = 0.0

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SgdOptimizer:
        if self.nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise ValueError("optimizer.nesterov requires momentum > 0 and dampening = 0")
        return self


class RmspropOptimizer(SpecPart):
    """torch.optim.RMSprop, a baseline."""

    name: Literal["rmsprop"]
    lr: Lr = Field(1e-2, description="Learning rate; default 0.01 (torch's).")
    alpha: Probability = Field(0.99, description="Smoothing constant; default 0.99.")
    eps: Eps = Field(1e-8, description="ε; default 1e-8.")
    momentum: Probability = Field(0.0, description="Momentum; default 0.0.")
    centered: bool = Field(False, description="Centered RMSprop; default false.")
    weight_decay: WeightDecay = 0.0


class AdagradOptimizer(SpecPart):
    """torch.optim.Adagrad, a baseline."""

    name: Literal["adagrad"]
    lr: Lr = Field(1e-2, description="Learning rate; default 0.01 (torch's).")
    lr_decay: float = Field(0.0, ge=0.0, le=1e3, description="Learning-rate decay; default 0.")
    eps: Eps = Field(1e-10, description="ε; default 1e-10.")
    initial_accumulator_value: float = Field(
        0.0, ge=0.0, le=1e3, description="Starting sum of squares; default 0.0."
    )
    weight_decay: WeightDecay = 0.0


class AdadeltaOptimizer(SpecPart):
    """torch.optim.Adadelta, a baseline."""

    name: Literal["adadelta"]
    lr: Lr = Field(1.0, description="Scale of the update; default 1.0 (torch's).")
    rho: Probability = Field(0.9, description="Decay of the running averages; default 0.9.")
    eps: Eps = Field(1e-6, description="ε; default 1e-6.")
    weight_decay: WeightDecay = 0.0


OptimizerVariant = (
    AdamOptimizer
    | AdamaxOptimizer
    | AdamwOptimizer
    | SgdOptimizer
    | RmspropOptimizer
    | AdagradOptimizer
    | AdadeltaOptimizer
)
OptimizerSpec = Annotated[OptimizerVariant, Field(discriminator="name")]
OPTIMIZER_VARIANTS: tuple[type[OptimizerVariant], ...] = typing.get_args(OptimizerVariant)
