"""Which sweep members train as one stacked model (``worker/batched.py``), and how many.

Members are compatible when they share what the stack shares: the data set (and so the
batch size), the model without its dropout rate, the epochs, the schedule kind, the
optimizer kind with its AMSGrad, bias-correction and Nesterov switches, and the device;
Adam, AdamW, AdaMax and SGD have a batched step (``optim/batched.py``), the other
baselines, the playground's test problems and the generative models (the VAE) train
alone. Compatible members are cut, in the order the plan lists them, into groups of at
most ``group_size``; each group gets a key unique to the sweep, which the worker reads to
claim a member's group mates with it.

``group_size`` unset picks it from the model's memory estimate and the device:
``budget / memory per member`` members (a member's parameters, gradients, optimizer
state and activations; the data set is shared), at most ``AUTO_CAP`` for the device.
The caps come from ``benchmarks/batched.py`` on the CPU: at 16 members the MNIST LR and
the digits MLP train 8× faster than one after another and the 1.8 M-parameter MLP 1.26×,
while beyond 16 the CPU's gain levels off (9.5×, 15× and 1.42× at 64). A convolutional
model trains alone unless its device is ``cuda``: on the CPU a stack of CNNs (``vmap``'s
grouped convolutions) is slower than its members one after another (0.65× at 4 members),
and with ``auto`` the device is not known when the sweep is planned. An explicit
``group_size`` still stacks them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from core.cost_estimate import estimate_cost
from core.spec import ExperimentSpec, PlaygroundDataset

GROUPABLE_OPTIMIZERS = ("adam", "adamw", "adamax", "sgd")
GROUPABLE_TASKS = ("classification", "regression", "minimization")
"""The model tasks ``worker/batched.py``'s stacked loss and evaluation know (a test
problem's ``minimization`` is refused below, by its data set)."""
AUTO_CAP = {"cpu": 16, "cuda": 64}
MEMORY_BUDGET_BYTES = {"cpu": 4 * 2**30, "cuda": 16 * 2**30}


def group_signature(spec: ExperimentSpec) -> str | None:
    """What members must share to train as one stack, as a short hash; None for a spec
    that trains alone (its optimizer or its model has no batched step)."""
    if spec.optimizer.name not in GROUPABLE_OPTIMIZERS or spec.model.task not in GROUPABLE_TASKS:
        return None
    if isinstance(spec.dataset, PlaygroundDataset):  # worker/playground.py has no stacked loop
        return None
    shared = {
        "dataset": spec.dataset.model_dump(mode="json"),
        "model": spec.model.model_dump(mode="json", exclude={"dropout"}),
        "epochs": spec.epochs,
        "schedule": spec.schedule.name,
        "optimizer": spec.optimizer.name,
        "amsgrad": getattr(spec.optimizer, "amsgrad", False),
        "bias_correction": getattr(spec.optimizer, "bias_correction", True),
        "nesterov": getattr(spec.optimizer, "nesterov", False),
        "device": spec.device,
    }
    canonical = json.dumps(shared, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def automatic_group_size(spec: ExperimentSpec) -> int:
    """The group size for ``spec`` when the sweep sets none (see the module's docstring)."""
    if group_signature(spec) is None:
        return 1
    device = "cuda" if spec.device == "cuda" else "cpu"
    if spec.model.name == "cnn" and device == "cpu":
        return 1
    cost = estimate_cost(spec)
    per_member = max(1, cost.parameter_bytes + cost.activation_bytes)
    return max(1, min(AUTO_CAP[device], MEMORY_BUDGET_BYTES[device] // per_member))


def group_keys(
    specs: Sequence[ExperimentSpec], *, group_size: int | None, round_index: int
) -> list[str | None]:
    """Each spec's group key (None: it trains alone), cutting compatible specs, in order,
    into groups of at most ``group_size`` (None: ``automatic_group_size``)."""
    keys: list[str | None] = []
    filled: dict[str, tuple[int, int]] = {}  # signature → (group number, members in it)
    for spec in specs:
        signature = group_signature(spec)
        size = group_size if group_size is not None else automatic_group_size(spec)
        if signature is None or size <= 1:
            keys.append(None)
            continue
        number, count = filled.get(signature, (0, 0))
        if count == size:
            number, count = number + 1, 0
        filled[signature] = (number, count + 1)
        keys.append(f"{signature}-{round_index}-{number}")
    return keys
