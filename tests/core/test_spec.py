"""The experiment spec: defaults, bounds, discriminated unions, unknown fields."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from core.spec import (
    AdamaxOptimizer,
    AdamOptimizer,
    CnnModel,
    ConstantSchedule,
    ExperimentSpec,
    InverseSqrtSchedule,
    MnistDataset,
    SgdOptimizer,
)

ISSUE_EXAMPLE = {
    "name": "cnn-adam-dropout",
    "dataset": {"name": "mnist", "batch_size": 128},
    "model": {"name": "cnn", "dropout": 0.5},
    "optimizer": {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8},
    "schedule": {"name": "inverse_sqrt"},
    "epochs": 20,
    "l2": 0.0,
    "seed": 0,
    "device": "auto",
}


def _error_locations(exc: ValidationError) -> list[str]:
    return [".".join(str(part) for part in error["loc"]) for error in exc.errors()]


def test_issue_example_parses_into_its_variants() -> None:
    spec = ExperimentSpec.model_validate(ISSUE_EXAMPLE)
    assert isinstance(spec.dataset, MnistDataset)
    assert isinstance(spec.model, CnnModel)
    assert spec.model.dropout == 0.5
    assert spec.model.channels == (32, 64)
    assert isinstance(spec.optimizer, AdamOptimizer)
    assert spec.optimizer.betas == (0.9, 0.999)
    assert isinstance(spec.schedule, InverseSqrtSchedule)
    assert spec.schedule.per == "epoch"


def test_json_round_trip_is_identity() -> None:
    spec = ExperimentSpec.model_validate(ISSUE_EXAMPLE)
    again = ExperimentSpec.model_validate_json(spec.model_dump_json())
    assert again == spec


def test_defaults_are_the_documented_ones() -> None:
    spec = ExperimentSpec.model_validate({"dataset": {"name": "mnist"}, "model": {"name": "mlp"}})
    assert spec.name == "experiment"
    assert spec.tags == []
    assert spec.dataset.batch_size == 128
    assert spec.model.hidden_sizes == [1000, 1000]
    assert spec.optimizer == AdamOptimizer(name="adam")
    assert spec.optimizer.lr == 1e-3
    assert spec.schedule == ConstantSchedule(name="constant")
    assert (spec.epochs, spec.l2, spec.seed, spec.device) == (20, 0.0, 0, "auto")
    assert AdamaxOptimizer(name="adamax").lr == 2e-3


def test_every_field_has_a_description_stating_its_default() -> None:
    schema = ExperimentSpec.model_json_schema()
    for definition in schema["$defs"].values():
        for field_name, field in definition.get("properties", {}).items():
            if field_name == "name" or "default" not in field:
                continue
            assert "default" in field.get("description", "").lower(), (
                definition["title"],
                field_name,
            )


@pytest.mark.parametrize(
    ("patch", "location"),
    [
        ({"dataset": {"name": "mnist", "shuffle": False}}, "dataset.mnist.shuffle"),
        ({"model": {"name": "cnn", "width": 3}}, "model.cnn.width"),
        ({"optimizer": {"name": "adamax", "amsgrad": True}}, "optimizer.adamax.amsgrad"),
        ({"schedule": {"name": "constant", "per": "epoch"}}, "schedule.constant.per"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_unknown_field_is_rejected_with_its_location(patch: dict, location: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ExperimentSpec.model_validate(ISSUE_EXAMPLE | patch)
    assert location in _error_locations(caught.value)


@pytest.mark.parametrize(
    ("patch", "location"),
    [
        ({"dataset": {"name": "mnist", "batch_size": 0}}, "dataset.mnist.batch_size"),
        ({"model": {"name": "mlp", "dropout": 1.0}}, "model.mlp.dropout"),
        ({"model": {"name": "mlp", "hidden_sizes": []}}, "model.mlp.hidden_sizes"),
        ({"optimizer": {"name": "adam", "lr": 0.0}}, "optimizer.adam.lr"),
        ({"optimizer": {"name": "adam", "betas": [0.9, 1.0]}}, "optimizer.adam.betas.1"),
        ({"optimizer": {"name": "adam", "eps": -1e-8}}, "optimizer.adam.eps"),
        ({"epochs": 0}, "epochs"),
        ({"l2": -0.1}, "l2"),
        ({"seed": -1}, "seed"),
        ({"device": "tpu"}, "device"),
        ({"optimizer": {"name": "lbfgs"}}, "optimizer"),
    ],
)
def test_out_of_bounds_value_is_rejected_with_its_location(patch: dict, location: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ExperimentSpec.model_validate(ISSUE_EXAMPLE | patch)
    assert location in _error_locations(caught.value)


@pytest.mark.parametrize(
    ("patch", "location", "kind"),
    [
        ({"optimizer": {"name": "adam", "lr": "0.1"}}, "optimizer.adam.lr", "float_type"),
        ({"optimizer": {"name": "adam", "lr": True}}, "optimizer.adam.lr", "float_type"),
        ({"epochs": 2.0}, "epochs", "int_type"),
        ({"epochs": "2"}, "epochs", "int_type"),
        ({"dataset": {"name": "mnist", "batch_size": True}}, "dataset.mnist.batch_size",
         "int_type"),
        ({"optimizer": {"name": "adam", "amsgrad": 1}}, "optimizer.adam.amsgrad", "bool_type"),
        ({"optimizer": {"name": "adam", "betas": ["0.9", 0.999]}}, "optimizer.adam.betas.0",
         "float_type"),
        ({"model": {"name": "cnn", "channels": [32.0, 64]}}, "model.cnn.channels.0", "int_type"),
    ],
)  # fmt: skip
def test_value_of_another_type_is_rejected_not_coerced(
    patch: dict, location: str, kind: str
) -> None:
    document = ISSUE_EXAMPLE | patch
    with pytest.raises(ValidationError) as from_dict:
        ExperimentSpec.model_validate(document)
    with pytest.raises(ValidationError) as from_json:
        ExperimentSpec.model_validate_json(json.dumps(document))
    for caught in (from_dict, from_json):
        errors = {".".join(str(p) for p in e["loc"]): e["type"] for e in caught.value.errors()}
        assert errors == {location: kind}


def test_integer_is_taken_for_a_float_and_an_array_for_a_tuple() -> None:
    patch = {
        "optimizer": {"name": "adam", "lr": 1, "betas": [0, 0.5]},
        "model": {"name": "cnn", "channels": [8, 16]},
        "l2": 0,
    }
    from_dict = ExperimentSpec.model_validate(ISSUE_EXAMPLE | patch)
    from_json = ExperimentSpec.model_validate_json(json.dumps(ISSUE_EXAMPLE | patch))
    assert from_dict == from_json
    assert isinstance(from_dict.optimizer, AdamOptimizer)
    assert from_dict.optimizer.lr == 1.0 and isinstance(from_dict.optimizer.lr, float)
    assert from_dict.optimizer.betas == (0.0, 0.5)
    assert isinstance(from_dict.model, CnnModel) and from_dict.model.channels == (8, 16)
    assert isinstance(from_dict.l2, float)


def test_step_schedule_requires_step_size() -> None:
    with pytest.raises(ValidationError) as caught:
        ExperimentSpec.model_validate(ISSUE_EXAMPLE | {"schedule": {"name": "step"}})
    assert "schedule.step.step_size" in _error_locations(caught.value)


def test_nesterov_without_momentum_is_rejected() -> None:
    with pytest.raises(ValidationError, match="nesterov"):
        SgdOptimizer(name="sgd", nesterov=True)
    assert SgdOptimizer(name="sgd", nesterov=True, momentum=0.9).nesterov


@pytest.mark.parametrize(
    ("dataset", "model"),
    [("linear", "cnn"), ("linear", "logistic_regression"), ("mnist", "linear_regression")],
)
def test_model_that_does_not_fit_the_dataset_is_rejected(dataset: str, model: str) -> None:
    with pytest.raises(ValidationError, match="does not fit dataset"):
        ExperimentSpec.model_validate({"dataset": {"name": dataset}, "model": {"name": model}})


def test_validation_split_must_leave_training_examples() -> None:
    with pytest.raises(ValidationError, match="validation_size"):
        ExperimentSpec.model_validate(
            {"dataset": {"name": "digits", "validation_size": 898}, "model": {"name": "mlp"}}
        )


def test_spec_is_immutable() -> None:
    spec = ExperimentSpec.model_validate(ISSUE_EXAMPLE)
    with pytest.raises(ValidationError):
        spec.epochs = 3  # type: ignore[misc]


def test_importing_spec_does_not_load_torch() -> None:
    code = "import sys, core.spec; print(json.dumps('torch' in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) is False
