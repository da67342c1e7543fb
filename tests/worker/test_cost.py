"""core/cost_estimate.py against the real thing: its parameter counts, activation counts, optimizer
state and stored points equal what the modules, optimizers and engine of worker/ make."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from core.cost_estimate import (
    EVALUATION_BATCH_SIZE,
    MODEL_SHAPES,
    estimate_cost,
    optimizer_state_tensors,
)
from core.metrics import METRICS
from core.spec import DATASET_VARIANTS, OPTIMIZER_VARIANTS, ExperimentSpec, variant_name
from worker.datasets import load_dataset
from worker.engine import run_experiment
from worker.evaluation import EVAL_BATCH_SIZE
from worker.models import build_model
from worker.optimizers import build_optimizer
from worker.sinks import ListSink

MODELS: list[Any] = [
    pytest.param("mnist", {"name": "logistic_regression"}, id="logistic-mnist"),
    pytest.param("digits", {"name": "logistic_regression", "dropout": 0.3}, id="logistic-digits"),
    pytest.param("linear", {"name": "linear_regression"}, id="linear"),
    pytest.param("linear", {"name": "linear_regression", "dropout": 0.1}, id="linear-dropout"),
    pytest.param("mnist", {"name": "mlp"}, id="mlp-default"),
    pytest.param("digits", {"name": "mlp", "hidden_sizes": [7]}, id="mlp-7"),
    pytest.param(
        "fashion_mnist",
        {"name": "mlp", "hidden_sizes": [300, 17, 64], "dropout": 0.5},
        id="mlp-3-layers-dropout",
    ),
    pytest.param("mnist", {"name": "cnn"}, id="cnn-default"),
    pytest.param("mnist", {"name": "cnn", "channels": [3, 5], "hidden_size": 11}, id="cnn-small"),
    pytest.param(
        "digits", {"name": "cnn", "channels": [16, 8], "hidden_size": 20, "dropout": 0.5},
        id="cnn-digits-dropout",
    ),
]  # fmt: skip


def _model_and_shape(dataset: str, model: dict[str, Any]) -> tuple[nn.Module, Any]:
    spec = ExperimentSpec.model_validate({"dataset": {"name": dataset}, "model": model})
    variant = type(spec.dataset)
    module = build_model(spec.model, variant.input_shape, variant.num_outputs)
    shape = MODEL_SHAPES[spec.model.name](spec.model, variant.input_shape, variant.num_outputs)
    return module, shape


@pytest.mark.parametrize(("dataset", "model"), MODELS)
def test_parameter_count_is_that_of_the_built_model(dataset: str, model: dict[str, Any]) -> None:
    module, shape = _model_and_shape(dataset, model)
    assert shape.parameters == sum(p.numel() for p in module.parameters())


def _outputs_per_example(module: nn.Module, inputs: torch.Tensor) -> tuple[int, ...]:
    """The element counts, per example, of the input and of every new tensor the leaf
    modules return (an output that is its input, as dropout's in eval mode, is none)."""
    sizes = [inputs[0].numel()]

    def record(layer: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if output is not args[0]:
            sizes.append(output[0].numel() if output.dim() > 1 else 1)

    leaves = [m for m in module.modules() if not list(m.children())]
    hooks = [leaf.register_forward_hook(record) for leaf in leaves]
    try:
        module(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return tuple(sizes)


@pytest.mark.parametrize(("dataset", "model"), MODELS)
def test_activation_counts_are_the_tensors_the_forward_pass_makes(
    dataset: str, model: dict[str, Any]
) -> None:
    module, shape = _model_and_shape(dataset, model)
    variant = next(v for v in DATASET_VARIANTS if variant_name(v) == dataset)
    inputs = torch.rand(3, *variant.input_shape)
    module.train()
    assert _outputs_per_example(module, inputs) == shape.training
    module.eval()
    with torch.no_grad():
        assert _outputs_per_example(module, inputs) == shape.evaluation


@pytest.mark.parametrize("variant", DATASET_VARIANTS, ids=variant_name)
def test_input_shape_is_the_loaders(variant: Any) -> None:
    dataset = variant.model_validate({"name": variant_name(variant)})
    assert load_dataset(dataset).input_shape == variant.input_shape


def test_evaluation_batch_is_the_engines() -> None:
    assert EVALUATION_BATCH_SIZE == EVAL_BATCH_SIZE


OPTIMIZERS: list[dict[str, Any]] = [
    {"name": variant_name(variant)} for variant in OPTIMIZER_VARIANTS
] + [
    {"name": "adam", "amsgrad": True},
    {"name": "adamw", "amsgrad": True},
    {"name": "sgd", "momentum": 0.9},
    {"name": "rmsprop", "momentum": 0.9},
    {"name": "rmsprop", "centered": True},
    {"name": "rmsprop", "momentum": 0.9, "centered": True},
]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: "-".join(map(str, o.values())))
def test_optimizer_state_is_what_the_optimizer_keeps(optimizer: dict[str, Any]) -> None:
    """After a step, the optimizer's state holds S tensors the size of each parameter."""
    spec = ExperimentSpec.model_validate(
        {"dataset": {"name": "digits"}, "model": {"name": "mlp", "hidden_sizes": [5]},
         "optimizer": optimizer}
    )  # fmt: skip
    module = build_model(spec.model, (1, 8, 8), 10)
    torch_optimizer = build_optimizer(spec.optimizer, module.parameters())
    module(torch.rand(4, 1, 8, 8)).sum().backward()
    torch_optimizer.step()
    parameters = list(module.parameters())
    state_elements = sum(
        value.numel()
        for p in parameters
        for value in torch_optimizer.state[p].values()
        if isinstance(value, torch.Tensor) and value.shape == p.shape
    )
    total = sum(p.numel() for p in parameters)
    assert state_elements == optimizer_state_tensors(spec.optimizer) * total


RUNS: list[Any] = [
    pytest.param(
        {"dataset": {"name": "digits", "batch_size": 50, "train_limit": 230, "test_limit": 40},
         "model": {"name": "mlp", "hidden_sizes": [8]}, "epochs": 3},
        id="digits",
    ),
    pytest.param(
        {"dataset": {"name": "digits", "batch_size": 64, "validation_size": 100,
                     "train_limit": 130, "test_limit": 30},
         "model": {"name": "logistic_regression"}, "epochs": 2},
        id="digits-validation",
    ),
    pytest.param(
        {"dataset": {"name": "linear", "num_points": 35, "batch_size": 10},
         "model": {"name": "linear_regression"}, "optimizer": {"name": "sgd", "lr": 0.01},
         "epochs": 4},
        id="linear",
    ),
    pytest.param(
        {"dataset": {"name": "function", "function": "beale", "noise": 0.1,
                     "steps_per_epoch": 9},
         "model": {"name": "point"}, "optimizer": {"name": "rmsprop"}, "epochs": 3},
        id="function",
    ),
    pytest.param(
        {"dataset": {"name": "reddi", "steps_per_epoch": 5}, "model": {"name": "point"},
         "optimizer": {"name": "adam", "amsgrad": True}, "epochs": 2},
        id="reddi",
    ),
]  # fmt: skip


@pytest.mark.parametrize("body", RUNS)
def test_steps_and_stored_points_are_those_of_a_real_run(body: dict[str, Any]) -> None:
    spec = ExperimentSpec.model_validate(body | {"device": "cpu"})
    sink = ListSink()
    result = run_experiment(spec, sink=sink, log_every=7)
    assert result.status == "succeeded", result.error
    cost = estimate_cost(spec)
    assert cost.steps == result.steps_completed
    assert cost.steps_per_epoch == result.metadata["steps_per_epoch"]
    assert cost.parameters == result.metadata["parameters"]
    assert cost.stored_points == len(sink.points)
    per_epoch = {p.name for p in sink.points if METRICS[p.name].per == "epoch"}
    assert cost.points_per_epoch == len(per_epoch)
