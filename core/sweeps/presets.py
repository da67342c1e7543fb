"""Ready-made sweeps: request bodies of ``POST /v1/sweeps`` for the studies adamlab is
about, for ``adamlab sweep create --preset NAME`` and for anyone writing their own.

``PRESETS`` maps each name to a function of keyword arguments (``seeds`` and ``epochs``
at least) that returns a fresh body (a plain dict, JSON as sent). ``canyon``, ``reddi``
and ``tutorial`` are the playground's (``core/problems.py``): a test problem, or the
tutorial's line, under a few optimizers. The bodies are checked
by the server like any other; ``tests/adamlab/test_cli_sweep.py`` checks that ``table1``
expands to the ten specs of ``core.table1``. No preset tags its members (``GET
/v1/experiments?sweep=ID`` finds them), so a table1 sweep's members are not taken for the
runs of ``adamlab reproduce table1``, which carry the tag ``table1``.

Torch-free and cheap to import: the command line reads ``PRESETS`` to list the names, so
the study's constants (``core.table1``, which loads the spec's pydantic models) are
imported only when a body is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Seeds = int | Sequence[int]
"""A count n (seeds 0..n-1) or a list of distinct seeds, as the sweep's ``seeds`` takes."""

LR_SENSITIVITY_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
LR_SENSITIVITY_OPTIMIZERS = ("adam", "adamax", "sgd")
SGD_MOMENTUM = 0.9

_TABLE1_MODEL_NAMES = {"lr": "logistic_regression", "mlp": "mlp", "cnn": "cnn"}
"""The table's short model keys (``core.table1.COLUMNS``) as the spec names them."""


def _seeds(seeds: Seeds) -> int | list[int]:
    return seeds if isinstance(seeds, int) else list(seeds)


def table1(seeds: Seeds = 3, epochs: int = 20) -> dict[str, Any]:
    """The study's Table 1 as a grid sweep: its five models (logistic regression, the MLP
    and the CNN each with and without dropout) × Adam (lr 0.001) and AdaMax (lr 0.002), on
    MNIST with batch 128, α/√t per epoch, λ = 0, for ``epochs`` (default the study's 20),
    each configuration once per seed (the study ran one). Ranked by test accuracy; no
    early stopping (the table reports the accuracy after the last epoch). The settings,
    and our choices where the study is silent, are ``core.table1``'s."""
    from core.table1 import BATCH_SIZE, COLUMNS, DROPOUT_RATE, LEARNING_RATES

    models = [
        {"name": _TABLE1_MODEL_NAMES[model], "dropout": DROPOUT_RATE if dropout else 0.0}
        for model, dropout, _column in COLUMNS
    ]
    optimizers = [{"name": name, "lr": lr} for name, lr in LEARNING_RATES.items()]
    return {
        "name": "table1",
        "base": {
            "dataset": {"name": "mnist", "batch_size": BATCH_SIZE},
            "model": models[0],
            "optimizer": optimizers[0],
            "schedule": {"name": "inverse_sqrt", "per": "epoch"},
            "epochs": epochs,
            "l2": 0.0,
        },
        "parameters": {"model": {"values": models}, "optimizer": {"values": optimizers}},
        "seeds": _seeds(seeds),
        "method": "grid",
        "metric": {"name": "test_acc", "goal": "maximize"},
        "early_stopping": {"method": "none"},
    }


def lr_sensitivity(seeds: Seeds = 3, epochs: int = 5) -> dict[str, Any]:
    """How the final test accuracy depends on the learning rate (DeepOBS's sensitivity
    plot): Adam, AdaMax and SGD with momentum 0.9, each at lr 1e-4, 3e-4, 1e-3, 3e-3,
    1e-2, 3e-2 and 1e-1 (half-decades across the rates these optimizers are used at), on
    MNIST (batch 128) with the MLP (two hidden layers of 1000), a constant rate, as a
    grid: 21 configurations × ``seeds`` (default 3, 63 members).

    ``epochs`` defaults to 5, a quarter of the study's 20: the curve is to show which rates
    are too small, good or too large for each optimizer, not the last tenth of a point
    of the best one, and 63 members of 20 epochs would cost four times as much."""
    return {
        "name": "lr-sensitivity",
        "base": {
            "dataset": {"name": "mnist", "batch_size": 128},
            "model": {"name": "mlp"},
            "optimizer": {"name": "adam"},
            "schedule": {"name": "constant"},
            "epochs": epochs,
        },
        "parameters": {
            "optimizer.name": {"values": list(LR_SENSITIVITY_OPTIMIZERS)},
            "optimizer.lr": {"values": list(LR_SENSITIVITY_RATES)},
            "optimizer.momentum": {"values": [SGD_MOMENTUM], "when": {"optimizer.name": "sgd"}},
        },
        "seeds": _seeds(seeds),
        "method": "grid",
        "metric": {"name": "test_acc", "goal": "maximize"},
        "early_stopping": {"method": "none"},
    }


CANYON_OPTIMIZERS: tuple[dict[str, Any], ...] = (
    {"name": "sgd", "lr": 0.0195},
    {"name": "sgd", "lr": 0.0195, "momentum": 0.7},
    {"name": "adam", "lr": 0.2},
)
"""The canyon's three runs. SGD's rate is just under the stable 2/κ = 0.02 across the
canyon, so it bounces from wall to wall (each step flips y and keeps 90% of it) while it
crawls along the floor (x shrinks by 1.9% a step); heavy-ball momentum 0.9 at the same
rate; Adam at a rate of about the floor's length over the steps it has."""

REDDI_OPTIMIZERS: tuple[dict[str, Any], ...] = (
    {"name": "adam", "lr": 0.5, "betas": [0.9, 0.99]},
    {"name": "adam", "lr": 0.5, "betas": [0.9, 0.99], "amsgrad": True},
)
"""Reddi et al.'s synthetic experiment: Adam and AMSGrad with β1 = 0.9, β2 = 0.99 and
α_t = α/√t."""


def _playground(
    name: str,
    dataset: dict[str, Any],
    optimizers: Sequence[dict[str, Any]],
    *,
    seeds: Seeds,
    epochs: int,
    schedule: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A playground preset: one test problem, a grid over whole optimizer specs."""
    return {
        "name": name,
        "base": {
            "dataset": dataset,
            "model": {"name": "point"},
            "optimizer": dict(optimizers[0]),
            "schedule": schedule or {"name": "constant"},
            "epochs": epochs,
        },
        "parameters": {"optimizer": {"values": [dict(o) for o in optimizers]}},
        "seeds": _seeds(seeds),
        "method": "grid",
        "metric": {"name": "distance", "goal": "minimize"},
        "early_stopping": {"method": "none"},
    }


def canyon(seeds: Seeds = 1, epochs: int = 1) -> dict[str, Any]:
    """The Q&A's canyon: the quadratic (x² + 100·y²)/2 from (−8, 1), 100 steps an epoch
    (default one epoch), SGD, SGD with momentum and Adam (``CANYON_OPTIMIZERS``). SGD
    oscillates across the canyon and crawls along it, momentum damps the oscillation and
    gains speed along the floor, Adam gives each coordinate a step of its own. Ranked by
    the distance to the minimum."""
    dataset = {"name": "function", "function": "canyon", "curvature_ratio": 100.0}
    return _playground("canyon", dataset, CANYON_OPTIMIZERS, seeds=seeds, epochs=epochs)


def reddi(seeds: Seeds = 1, epochs: int = 100) -> dict[str, Any]:
    """Reddi et al.'s online counterexample (f_t(x) = 1010·x when t mod 101 = 1, else
    −10·x, x in [−1, 1]) from x = 0, 101 steps an epoch for ``epochs`` (default 100),
    α_t = 0.5/√t: Adam drifts to +1, AMSGrad finds the minimum −1 (``REDDI_OPTIMIZERS``)."""
    return _playground(
        "reddi",
        {"name": "reddi"},
        REDDI_OPTIMIZERS,
        seeds=seeds,
        epochs=epochs,
        schedule={"name": "inverse_sqrt", "per": "iteration"},
    )


def tutorial(seeds: Seeds = 1, epochs: int = 100) -> dict[str, Any]:
    """The tutorial's fit: y = 2x + 1 + N(0, 1) at 100 points of [−5, 5], linear
    regression from w = b = 0, Adam with lr 0.1, full batch, ``epochs`` (default 100)
    steps: w ≈ 2, b ≈ 1."""
    return {
        "name": "tutorial",
        "base": {
            "dataset": {"name": "linear", "num_points": 100, "noise_std": 1.0, "batch_size": 100},
            "model": {"name": "linear_regression", "init": "zeros"},
            "optimizer": {"name": "adam", "lr": 0.1},
            "schedule": {"name": "constant"},
            "epochs": epochs,
        },
        "parameters": {"optimizer.lr": {"values": [0.1]}},
        "seeds": _seeds(seeds),
        "method": "grid",
        "metric": {"name": "train_mse", "goal": "minimize"},
        "early_stopping": {"method": "none"},
    }


PRESETS: dict[str, Callable[..., dict[str, Any]]] = {
    "table1": table1,
    "lr-sensitivity": lr_sensitivity,
    "canyon": canyon,
    "reddi": reddi,
    "tutorial": tutorial,
}
"""``adamlab sweep create --preset NAME``'s sweeps, by name."""
