"""Shared by the optim tests: random configurations, the param groups they give our
optimizers and torch's, a driver that steps two optimizers on the same gradients, and the
tolerances of issue 2."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from hypothesis import strategies as st

SHAPES = [(), (1,), (3,), (2, 4), (0,), (3, 0), (5, 1, 2), (17,), (33, 3)]


def tolerances(dtype: torch.dtype) -> dict[str, float]:
    if dtype == torch.float64:
        return {"rtol": 1e-10, "atol": 1e-12}
    return {"rtol": 1e-5, "atol": 1e-6}


@dataclass
class GroupConfig:
    shapes: list[tuple[int, ...]]
    lr: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    decoupled_weight_decay: bool
    maximize: bool
    amsgrad: bool = False
    options: dict = field(default_factory=dict)

    def hyperparameters(self, *, adam: bool) -> dict:
        values = {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "maximize": self.maximize,
            "decoupled_weight_decay": self.decoupled_weight_decay,
        }
        if adam:
            values["amsgrad"] = self.amsgrad
        return values


@dataclass
class RunConfig:
    groups: list[GroupConfig]
    dtype: torch.dtype
    seed: int
    grad_none_probability: float


@st.composite
def group_configs(draw, *, adam: bool) -> GroupConfig:
    return GroupConfig(
        shapes=draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3)),
        lr=draw(st.sampled_from([1e-4, 1e-3, 1e-2, 0.1])),
        betas=(
            draw(st.sampled_from([0.0, 0.5, 0.9, 0.99])),
            draw(st.sampled_from([0.0, 0.9, 0.99, 0.999, 0.9999])),
        ),
        eps=draw(st.sampled_from([1e-8, 1e-6, 1e-3])),
        weight_decay=draw(st.sampled_from([0.0, 0.0, 1e-2, 0.5])),
        decoupled_weight_decay=draw(st.booleans()),
        maximize=draw(st.booleans()),
        amsgrad=draw(st.booleans()) if adam else False,
    )


@st.composite
def run_configs(draw, *, adam: bool, dtypes=(torch.float32, torch.float64)) -> RunConfig:
    return RunConfig(
        groups=draw(st.lists(group_configs(adam=adam), min_size=1, max_size=3)),
        dtype=draw(st.sampled_from(list(dtypes))),
        seed=draw(st.integers(0, 2**31 - 1)),
        grad_none_probability=draw(st.sampled_from([0.0, 0.3])),
    )


def make_params(config: RunConfig) -> list[list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(config.seed)
    return [
        [torch.randn(shape, generator=generator, dtype=config.dtype) for shape in group.shapes]
        for group in config.groups
    ]


def clone_params(params: list[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
    return [[p.clone().requires_grad_() for p in group] for group in params]


def drive(
    optimizers: list[torch.optim.Optimizer],
    params: list[list[list[torch.Tensor]]],
    config: RunConfig,
    *,
    steps: int,
    before_step: list[Callable[[], None] | None] | None = None,
) -> None:
    """Step every optimizer ``steps`` times on the same random gradients; each parameter's
    gradient is None at a step with probability ``config.grad_none_probability``."""
    generator = torch.Generator().manual_seed(config.seed + 1)
    for _ in range(steps):
        for group_index, group in enumerate(params[0]):
            for param_index, reference in enumerate(group):
                absent = torch.rand((), generator=generator).item() < config.grad_none_probability
                scale = 10 ** torch.randint(-3, 2, (), generator=generator).item()
                grad = torch.randn(reference.shape, generator=generator, dtype=config.dtype)
                for copy in params:
                    copy[group_index][param_index].grad = None if absent else grad * scale
        for index, optimizer in enumerate(optimizers):
            if before_step is not None and before_step[index] is not None:
                before_step[index]()
            optimizer.step()


def flat(params: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    return [p.detach() for group in params for p in group]


def adam_groups(params, config: RunConfig) -> list[dict]:
    return [
        {"params": group_params, **group.hyperparameters(adam=True)}
        for group_params, group in zip(params, config.groups, strict=True)
    ]


def adamax_groups(params, config: RunConfig, *, for_torch: bool) -> list[dict]:
    groups = []
    for group_params, group in zip(params, config.groups, strict=True):
        values = {"params": group_params, **group.hyperparameters(adam=False)}
        if for_torch:
            # torch.optim.Adamax has no decoupled weight decay: the reference applies it by
            # hand before each step (decay_by_hand, test_equivalence.py) and runs Adamax without it.
            values.pop("decoupled_weight_decay")
            if group.decoupled_weight_decay:
                values["weight_decay"] = 0.0
        groups.append(values)
    return groups
