"""Experiment specs for every test folder: small data, small models, a few epochs.

``*_body`` functions return the JSON body a client sends (a dict; the service tests post
it, the store tests validate it); ``*_spec`` functions return a validated
``ExperimentSpec`` (the engine and command tests run it). Each takes the spec's fields
as keyword overrides, replacing a field whole."""

from __future__ import annotations

from typing import Any

from core.spec import ExperimentSpec


def digits_body(**overrides: Any) -> dict[str, Any]:
    """Logistic regression on scikit-learn's digits, every other field the spec's default:
    a run of a second or two."""
    body: dict[str, Any] = {"dataset": {"name": "digits"}, "model": {"name": "logistic_regression"}}
    return body | overrides


def per_example_body(**overrides: Any) -> dict[str, Any]:
    """``digits_body`` one example per iteration (898 iterations an epoch): seconds an
    epoch, long enough to be seen running."""
    return digits_body(dataset={"name": "digits", "batch_size": 1}) | overrides


def endless_body(**overrides: Any) -> dict[str, Any]:
    """An MLP, one example per iteration, 200 epochs, on the CPU: runs until cancelled."""
    body = per_example_body(model={"name": "mlp", "hidden_sizes": [64]}, epochs=200)
    return body | {"device": "cpu"} | overrides


def diverging_body(**overrides: Any) -> dict[str, Any]:
    """SGD with a huge step on the regression data: the loss overflows in the first epoch."""
    body: dict[str, Any] = {
        "dataset": {"name": "linear", "batch_size": 10},
        "model": {"name": "linear_regression"},
        "optimizer": {"name": "sgd", "lr": 1000.0},
        "epochs": 2,
        "device": "cpu",
    }
    return body | overrides


def digits_spec(**overrides: Any) -> ExperimentSpec:
    """A 2-epoch MLP on 256 of scikit-learn's digits, evaluated on 200 test images."""
    return _spec(
        name="digits-mlp",
        dataset={"name": "digits", "batch_size": 32, "train_limit": 256, "test_limit": 200},
        model={"name": "mlp", "hidden_sizes": [32], "dropout": 0.2},
        optimizer={"name": "adam", "lr": 0.01},
        schedule={"name": "inverse_sqrt"},
        epochs=2,
        overrides=overrides,
    )


def linear_spec(**overrides: Any) -> ExperimentSpec:
    """The tutorial: linear regression, Adam with lr 0.1, 100 full-batch steps."""
    return _spec(
        name="tutorial",
        dataset={"name": "linear"},
        model={"name": "linear_regression"},
        optimizer={"name": "adam", "lr": 0.1},
        schedule={"name": "constant"},
        epochs=100,
        overrides=overrides,
    )


def _spec(*, overrides: dict[str, Any], **fields: Any) -> ExperimentSpec:
    """``fields`` with seed 0 on the CPU, then ``overrides``, validated."""
    return ExperimentSpec.model_validate(fields | {"seed": 0, "device": "cpu"} | overrides)


def sweep_body(**overrides: Any) -> dict[str, Any]:
    """A grid sweep over Adam's and AdaMax's learning rate on ``digits_body`` (2 epochs),
    two seeds: 2 × 2 configurations × 2 seeds = 8 members of a second or two each."""
    body: dict[str, Any] = {
        "name": "digits-lr",
        "base": digits_body(epochs=2),
        "parameters": {
            "optimizer.name": {"values": ["adam", "adamax"]},
            "optimizer.lr": {"values": [0.01, 0.001]},
        },
        "seeds": 2,
        "metric": {"name": "test_acc"},
    }
    return body | overrides
