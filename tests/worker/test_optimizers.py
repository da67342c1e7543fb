"""Optimizers are built with exactly the spec's hyperparameters."""

from __future__ import annotations

import pytest
import torch
from pydantic import TypeAdapter

import optim
from core.spec import OptimizerSpec
from worker.optimizers import build_optimizer

_parse = TypeAdapter(OptimizerSpec).validate_python


@pytest.mark.parametrize(
    ("fields", "cls", "expected"),
    [
        ({"name": "adam", "lr": 0.003, "amsgrad": True},
         optim.Adam, {"lr": 0.003, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": True}),
        ({"name": "adamax"}, optim.AdaMax, {"lr": 0.002, "betas": (0.9, 0.999)}),
        ({"name": "adamw", "weight_decay": 0.1}, optim.AdamW, {"weight_decay": 0.1}),
        ({"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
         torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ({"name": "rmsprop", "alpha": 0.9, "centered": True},
         torch.optim.RMSprop, {"alpha": 0.9, "centered": True}),
        ({"name": "adagrad", "lr_decay": 0.01}, torch.optim.Adagrad, {"lr_decay": 0.01}),
        ({"name": "adadelta", "rho": 0.95}, torch.optim.Adadelta, {"rho": 0.95, "lr": 1.0}),
    ],
    ids=lambda value: value["name"] if isinstance(value, dict) and "name" in value else "",
)  # fmt: skip
def test_spec_builds_its_optimizer_with_its_hyperparameters(fields, cls, expected) -> None:
    parameter = torch.nn.Parameter(torch.zeros(3))
    optimizer = build_optimizer(_parse(fields), [parameter])
    assert type(optimizer) is cls
    group = optimizer.param_groups[0]
    for key, value in expected.items():
        assert tuple(group[key]) == value if isinstance(value, tuple) else group[key] == value


def test_adam_without_bias_correction_is_passed_through() -> None:
    parameter = torch.nn.Parameter(torch.zeros(3))
    optimizer = build_optimizer(_parse({"name": "adam", "bias_correction": False}), [parameter])
    assert optimizer.param_groups[0]["bias_correction"] is False
