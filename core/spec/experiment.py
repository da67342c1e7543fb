"""The experiment: a dataset, a model, an optimizer and a schedule, trained for a number of
epochs from a seed, with the checks that span its parts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from core.spec.datasets import DatasetSpec
from core.spec.fields import SpecPart, Task
from core.spec.models import ModelSpec
from core.spec.optimizers import AdamOptimizer, OptimizerSpec
from core.spec.schedules import ConstantSchedule, ScheduleSpec
from core.text import PlainText

FITTING_MODELS: dict[Task, str] = {
    "classification": "a classification model",
    "regression": "'linear_regression'",
    "minimization": "'point'",
}
"""What a data set's 422 suggests for a model of another task."""

MAX_TAGS = 32
"""Most tags an experiment has, and so most a listing's tag filter can ask for."""


class ExperimentSpec(SpecPart):
    """Everything needed to run one experiment; the same spec and seed give the same
    metrics on CPU."""

    name: PlainText = Field(
        "experiment",
        min_length=1,
        max_length=200,
        description="A label for people, without control characters; default 'experiment'.",
    )
    tags: list[Annotated[PlainText, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=MAX_TAGS,
        description="Free-form labels, without control characters; default none.",
    )
    dataset: DatasetSpec
    model: ModelSpec
    optimizer: OptimizerSpec = Field(
        default_factory=lambda: AdamOptimizer.model_validate({"name": "adam"}),
        description="Default: adam with its defaults.",
    )
    schedule: ScheduleSpec = Field(
        default_factory=lambda: ConstantSchedule(name="constant"),
        description="Default: constant.",
    )
    epochs: int = Field(
        20, ge=1, le=10_000, description="Passes over the training split; default 20 (the study's)."
    )
    l2: float = Field(
        0.0,
        ge=0.0,
        le=1e3,
        description="λ of the λ‖Θ‖² term (the study's section 2.1) added to the training "
        "loss, Θ all the model's parameters; default 0.0.",
    )
    seed: int = Field(
        0, ge=0, lt=2**63, description="Seeds initialisation, shuffling and dropout; default 0."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="'auto' takes CUDA when available, else CPU; default 'auto'."
    )

    @model_validator(mode="after")
    def _model_fits_dataset(self) -> ExperimentSpec:
        if self.dataset.task != self.model.task:
            raise ValueError(
                f"model {self.model.name!r} does not fit dataset {self.dataset.name!r}, "
                f"a {self.dataset.task} data set; use {FITTING_MODELS[self.dataset.task]}"
            )
        problem = self.dataset.split_problem()
        if problem is not None:
            raise ValueError(problem)
        return self
