"""The experiment spec: one validated description of a training run, shared by API and engine.

An experiment is a dataset, a model, an optimizer and a learning-rate schedule, trained for
a number of epochs from a seed. Each component is a discriminated union on its ``name``, so
every variant carries exactly its own fields; unknown fields are rejected everywhere
(``extra="forbid"``) and every number has bounds. Every default is stated in the field's
description, which is also what the API's JSON schema shows. For example::

    {"name": "cnn-adam-dropout",
     "dataset": {"name": "mnist", "batch_size": 128},
     "model": {"name": "cnn", "dropout": 0.5},
     "optimizer": {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8},
     "schedule": {"name": "inverse_sqrt"},
     "epochs": 20, "l2": 0.0, "seed": 0, "device": "auto"}

The package imports pydantic only (never torch): the API imports it. One module per part:
``datasets``, ``models``, ``optimizers``, ``schedules`` (each a union of variant classes,
exported bare as ``...Variant`` for type hints and as the discriminated ``...Spec`` for
validation, with the tuple ``..._VARIANTS``), and ``experiment``, which joins them.
"""

from core.spec.datasets import (
    DATASET_VARIANTS,
    DatasetSpec,
    DatasetVariant,
    DigitsDataset,
    FashionMnistDataset,
    FunctionDataset,
    IdxFiles,
    LinearDataset,
    MnistDataset,
    PlaygroundDataset,
    PublishedSplitsDataset,
    ReddiDataset,
)
from core.spec.experiment import ExperimentSpec
from core.spec.fields import SpecPart, Task, variant_name
from core.spec.models import (
    MODEL_VARIANTS,
    CnnModel,
    LinearRegressionModel,
    LogisticRegressionModel,
    MlpModel,
    ModelSpec,
    ModelVariant,
    PointModel,
)
from core.spec.optimizers import (
    OPTIMIZER_VARIANTS,
    AdadeltaOptimizer,
    AdagradOptimizer,
    AdamaxOptimizer,
    AdamOptimizer,
    AdamwOptimizer,
    OptimizerSpec,
    OptimizerVariant,
    RmspropOptimizer,
    SgdOptimizer,
)
from core.spec.schedules import (
    SCHEDULE_VARIANTS,
    ConstantSchedule,
    CosineSchedule,
    InverseSqrtSchedule,
    ScheduleSpec,
    ScheduleVariant,
    StepSchedule,
)

SPEC_VERSION = 1
"""Bumped when a change to this package changes what a stored spec means."""

__all__ = [
    "DATASET_VARIANTS",
    "MODEL_VARIANTS",
    "OPTIMIZER_VARIANTS",
    "SCHEDULE_VARIANTS",
    "SPEC_VERSION",
    "AdadeltaOptimizer",
    "AdagradOptimizer",
    "AdamOptimizer",
    "AdamaxOptimizer",
    "AdamwOptimizer",
    "CnnModel",
    "ConstantSchedule",
    "CosineSchedule",
    "DatasetSpec",
    "DatasetVariant",
    "DigitsDataset",
    "ExperimentSpec",
    "FashionMnistDataset",
    "FunctionDataset",
    "IdxFiles",
    "InverseSqrtSchedule",
    "LinearDataset",
    "LinearRegressionModel",
    "LogisticRegressionModel",
    "MlpModel",
    "MnistDataset",
    "ModelSpec",
    "ModelVariant",
    "OptimizerSpec",
    "OptimizerVariant",
    "PlaygroundDataset",
    "PointModel",
    "PublishedSplitsDataset",
    "ReddiDataset",
    "RmspropOptimizer",
    "ScheduleSpec",
    "ScheduleVariant",
    "SgdOptimizer",
    "SpecPart",
    "StepSchedule",
    "Task",
    "variant_name",
]
