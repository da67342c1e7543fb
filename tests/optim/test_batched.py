"""optim.batched: one step of M stacked members, each with its own lr, betas, eps and weight
decay (and a learning rate changing per step, as a schedule's), equals M solo steps of
optim's Adam, AdamW and AdaMax, and SGD's (its momentum, dampening and weight decay per
member) M steps of torch.optim.SGD, over random configurations and 200 steps (the
tolerances of tests/optim/test_equivalence.py)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optim import Adam, AdaMax, AdamW
from optim.batched import KERNEL_MIN_ELEMENTS, batched_adam, batched_adamax, batched_sgd
from tests.optim.helpers import tolerances

STEPS = 200
SHAPES = [(7, 3), (5,), (2, 2, 2)]
LARGE_SHAPES = [(260, 260), (7,)]
"""Members of more than ``optim.batched.KERNEL_MIN_ELEMENTS`` parameters: stepped member by
member with the C kernel."""


@st.composite
def members(draw: st.DrawFn) -> dict:
    count = draw(st.integers(1, 5))
    hyper = st.fixed_dictionaries({
        "lr": st.floats(1e-4, 1e-1),
        "beta1": st.floats(0.0, 0.99),
        "beta2": st.floats(0.9, 0.9999),
        "eps": st.floats(1e-10, 1e-6),
        "weight_decay": st.sampled_from([0.0, 0.0, 1e-3, 0.1]),
    })  # fmt: skip
    return {
        "members": draw(st.lists(hyper, min_size=count, max_size=count)),
        "dtype": draw(st.sampled_from([torch.float32, torch.float64])),
        "seed": draw(st.integers(0, 2**31 - 1)),
        "amsgrad": draw(st.booleans()),
        "bias_correction": draw(st.booleans()),
        "decay_per_step": draw(st.sampled_from([1.0, 0.99])),
    }


def _solo(kind: str, params: list[torch.Tensor], h: dict, config: dict) -> torch.optim.Optimizer:
    common = {
        "lr": h["lr"], "betas": (h["beta1"], h["beta2"]), "eps": h["eps"], "fused": False,
        "weight_decay": h["weight_decay"], "bias_correction": config["bias_correction"],
    }  # fmt: skip
    if kind == "adamax":
        return AdaMax(params, **common)
    optimizer = AdamW if kind == "adamw" else Adam
    return optimizer(params, amsgrad=config["amsgrad"], **common)


@pytest.mark.parametrize("shapes", [SHAPES, LARGE_SHAPES], ids=["small", "large"])
@pytest.mark.parametrize("kind", ["adam", "adamw", "adamax"])
@settings(max_examples=20, deadline=None)
@given(config=members())
def test_a_batched_step_equals_each_members_solo_step(
    kind: str, shapes: list[tuple[int, ...]], config: dict
) -> None:
    assert (
        sum(math.prod(s) for s in LARGE_SHAPES)
        >= KERNEL_MIN_ELEMENTS
        > sum(math.prod(s) for s in SHAPES)
    )
    generator = torch.Generator().manual_seed(config["seed"])
    hyper = config["members"]
    count, dtype = len(hyper), config["dtype"]
    stacked = [torch.randn(count, *shape, generator=generator, dtype=dtype) for shape in shapes]
    solo = [[p[i].clone() for p in stacked] for i in range(count)]
    solos = [_solo(kind, solo[i], hyper[i], config) for i in range(count)]
    state = [torch.zeros_like(p) for p in stacked]
    second = [torch.zeros_like(p) for p in stacked]
    maxima = [torch.zeros_like(p) for p in stacked]
    steps = torch.zeros(count, dtype=torch.int64)

    def column(name: str) -> torch.Tensor:
        return torch.tensor([h[name] for h in hyper], dtype=torch.float64)

    base_lr = column("lr")
    for step in range(STEPS):
        grads = [torch.randn(p.shape, generator=generator, dtype=dtype) for p in stacked]
        lr = base_lr * config["decay_per_step"] ** step  # a schedule, per member
        for i, optimizer in enumerate(solos):
            optimizer.param_groups[0]["lr"] = float(lr[i])
            for p, g in zip(solo[i], grads, strict=True):
                p.grad = g[i].clone()
            optimizer.step()
        hyperparameters = dict(
            lr=lr, beta1=column("beta1"), beta2=column("beta2"), eps=column("eps"),
            weight_decay=column("weight_decay"), decoupled_weight_decay=kind == "adamw",
            bias_correction=config["bias_correction"],
        )  # fmt: skip
        if kind == "adamax":
            batched_adamax(stacked, grads, state, second, steps, **hyperparameters)
        else:
            batched_adam(stacked, grads, state, second, maxima, steps,
                         amsgrad=config["amsgrad"], **hyperparameters)  # fmt: skip
    for i in range(count):
        for p_stacked, p_solo in zip(stacked, solo[i], strict=True):
            torch.testing.assert_close(p_stacked[i], p_solo, **tolerances(dtype))
    assert steps.tolist() == [STEPS] * count


@st.composite
def sgd_members(draw: st.DrawFn) -> dict:
    count = draw(st.integers(1, 5))
    nesterov = draw(st.booleans())
    hyper = st.fixed_dictionaries({
        "lr": st.floats(1e-4, 1e-1),
        # Nesterov needs momentum and no dampening; otherwise some members have none.
        "momentum": st.floats(0.1, 0.99) if nesterov else st.sampled_from([0.0, 0.5, 0.9]),
        "dampening": st.just(0.0) if nesterov else st.sampled_from([0.0, 0.0, 0.1, 0.5]),
        "weight_decay": st.sampled_from([0.0, 0.0, 1e-3, 0.1]),
    })  # fmt: skip
    return {
        "members": draw(st.lists(hyper, min_size=count, max_size=count)),
        "dtype": draw(st.sampled_from([torch.float32, torch.float64])),
        "seed": draw(st.integers(0, 2**31 - 1)),
        "nesterov": nesterov,
        "decay_per_step": draw(st.sampled_from([1.0, 0.99])),
    }


@settings(max_examples=30, deadline=None)
@given(config=sgd_members())
def test_a_batched_sgd_step_equals_each_members_torch_sgd_step(config: dict) -> None:
    generator = torch.Generator().manual_seed(config["seed"])
    hyper = config["members"]
    count, dtype = len(hyper), config["dtype"]
    stacked = [torch.randn(count, *shape, generator=generator, dtype=dtype) for shape in SHAPES]
    solo = [[p[i].clone() for p in stacked] for i in range(count)]
    solos = [
        torch.optim.SGD(
            solo[i], lr=h["lr"], momentum=h["momentum"], dampening=h["dampening"],
            weight_decay=h["weight_decay"], nesterov=config["nesterov"], foreach=False,
        )
        for i, h in enumerate(hyper)
    ]  # fmt: skip
    buffers = [torch.zeros_like(p) for p in stacked]
    steps = torch.zeros(count, dtype=torch.int64)

    def column(name: str) -> torch.Tensor:
        return torch.tensor([h[name] for h in hyper], dtype=torch.float64)

    for step in range(STEPS):
        grads = [torch.randn(p.shape, generator=generator, dtype=dtype) for p in stacked]
        lr = column("lr") * config["decay_per_step"] ** step
        for i, optimizer in enumerate(solos):
            optimizer.param_groups[0]["lr"] = float(lr[i])
            for p, g in zip(solo[i], grads, strict=True):
                p.grad = g[i].clone()
            optimizer.step()
        batched_sgd(
            stacked, grads, buffers, steps, lr=lr, momentum=column("momentum"),
            dampening=column("dampening"), weight_decay=column("weight_decay"),
            nesterov=config["nesterov"],
        )  # fmt: skip
    for i in range(count):
        for index, (p_stacked, p_solo) in enumerate(zip(stacked, solo[i], strict=True)):
            torch.testing.assert_close(p_stacked[i], p_solo, **scaled_tolerances(dtype, p_solo))
            state = solos[i].state[solo[i][index]]
            if hyper[i]["momentum"] > 0:
                reference = state["momentum_buffer"]
                torch.testing.assert_close(
                    buffers[index][i], reference, **scaled_tolerances(dtype, reference)
                )


def scaled_tolerances(dtype: torch.dtype, reference: torch.Tensor) -> dict[str, float]:
    """``tolerances`` with the absolute part in units of the tensor's largest magnitude.

    torch's SGD rounds a + α·b once (its CPU add with alpha is a fused multiply-add), the
    batched step twice (α·b, then the sum), so they differ by an ulp or so per step. Over
    200 steps with momentum 0.99 the buffers reach about 10 and an entry near zero carries
    the rounding of that history: a few ulps of 10 (2e-6 in float32 was seen at an entry of
    0.08, over a plain atol of 1e-6), not of itself."""
    base = tolerances(dtype)
    scale = max(1.0, float(reference.abs().max())) if reference.numel() else 1.0
    return {"rtol": base["rtol"], "atol": base["atol"] * scale}


def test_a_hyperparameter_of_the_wrong_shape_is_named() -> None:
    params = [torch.zeros(3, 4)]
    good = torch.full((3,), 0.1)
    with pytest.raises(ValueError, match=r"lr must have shape \[3\]"):
        batched_adam(params, [torch.zeros(3, 4)], [torch.zeros(3, 4)], [torch.zeros(3, 4)], [],
                     torch.zeros(3, dtype=torch.int64), lr=torch.full((2,), 0.1), beta1=good,
                     beta2=good, eps=good, weight_decay=good)  # fmt: skip
