"""optim's Adam and AdaMax equal torch.optim.Adam / Adamax over random configurations, on the
plain path and on the fast path, after 200 steps (issue 2's tolerances)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings

from optim import Adam, AdaMax, AdamW
from tests.optim.helpers import (
    RunConfig,
    adam_groups,
    adamax_groups,
    clone_params,
    drive,
    flat,
    make_params,
    run_configs,
    tolerances,
)

STEPS = 200
PATHS = {"plain": False, "fast": True}
EXAMPLES = settings(max_examples=25, deadline=None)


def decay_by_hand(params, config: RunConfig):
    def apply() -> None:
        with torch.no_grad():
            for group_params, group in zip(params, config.groups, strict=True):
                if group.decoupled_weight_decay and group.weight_decay:
                    for p in group_params:
                        if p.grad is not None:
                            p.mul_(1 - group.lr * group.weight_decay)

    return apply


def assert_states_equal(ours, theirs, dtype) -> None:
    for p_ours, p_theirs in zip(
        (p for g in ours.param_groups for p in g["params"]),
        (p for g in theirs.param_groups for p in g["params"]),
        strict=True,
    ):
        state_ours, state_theirs = ours.state[p_ours], theirs.state[p_theirs]
        assert set(state_ours) == set(state_theirs)
        for key, value in state_theirs.items():
            if key == "step":
                assert float(state_ours[key]) == float(value)
            else:
                torch.testing.assert_close(state_ours[key], value, **tolerances(dtype))


@pytest.mark.parametrize("path", PATHS)
@EXAMPLES
@given(config=run_configs(adam=True))
def test_adam_equals_torch_adam(path, config):
    initial = make_params(config)
    ours_params, torch_params = clone_params(initial), clone_params(initial)
    ours = Adam(adam_groups(ours_params, config), fused=PATHS[path])
    theirs = torch.optim.Adam(adam_groups(torch_params, config), foreach=False)

    drive([ours, theirs], [ours_params, torch_params], config, steps=STEPS)

    torch.testing.assert_close(flat(ours_params), flat(torch_params), **tolerances(config.dtype))
    assert_states_equal(ours, theirs, config.dtype)


@pytest.mark.parametrize("path", PATHS)
@EXAMPLES
@given(config=run_configs(adam=False))
def test_adamax_equals_torch_adamax(path, config):
    initial = make_params(config)
    ours_params, torch_params = clone_params(initial), clone_params(initial)
    ours = AdaMax(adamax_groups(ours_params, config, for_torch=False), fused=PATHS[path])
    theirs = torch.optim.Adamax(adamax_groups(torch_params, config, for_torch=True), foreach=False)

    drive(
        [ours, theirs],
        [ours_params, torch_params],
        config,
        steps=STEPS,
        before_step=[None, decay_by_hand(torch_params, config)],
    )

    torch.testing.assert_close(flat(ours_params), flat(torch_params), **tolerances(config.dtype))
    assert_states_equal(ours, theirs, config.dtype)


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=6, deadline=None)
@given(config=run_configs(adam=True))
def test_adamw_equals_torch_adamw(path, config):
    initial = make_params(config)
    ours_params, torch_params = clone_params(initial), clone_params(initial)
    weight_decay = config.groups[0].weight_decay or 1e-2
    ours = AdamW(flat_list(ours_params), lr=1e-2, weight_decay=weight_decay, fused=PATHS[path])
    theirs = torch.optim.AdamW(flat_list(torch_params), lr=1e-2, weight_decay=weight_decay)
    assert ours.param_groups[0]["decoupled_weight_decay"]

    drive([ours, theirs], [ours_params, torch_params], config, steps=STEPS)

    torch.testing.assert_close(flat(ours_params), flat(torch_params), **tolerances(config.dtype))


def flat_list(params):
    return [p for group in params for p in group]


def test_adamw_defaults_match_torch():
    ours = AdamW([torch.zeros(1, requires_grad=True)])
    theirs = torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    for key in ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"):
        assert ours.defaults[key] == theirs.defaults[key], key


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("optimizer", ["Adam", "AdaMax"])
def test_complex_params_match_torch(path, optimizer):
    generator = torch.Generator().manual_seed(3)
    initial = torch.randn(6, 2, dtype=torch.complex64, generator=generator)
    ours_p, torch_p = initial.clone().requires_grad_(), initial.clone().requires_grad_()
    if optimizer == "Adam":
        ours = Adam([ours_p], lr=0.05, weight_decay=0.1, amsgrad=True, fused=PATHS[path])
        theirs = torch.optim.Adam([torch_p], lr=0.05, weight_decay=0.1, amsgrad=True)
    else:
        ours = AdaMax([ours_p], lr=0.05, weight_decay=0.1, fused=PATHS[path])
        theirs = torch.optim.Adamax([torch_p], lr=0.05, weight_decay=0.1)
    for _ in range(50):
        grad = torch.randn(6, 2, dtype=torch.complex64, generator=generator)
        ours_p.grad, torch_p.grad = grad.clone(), grad.clone()
        ours.step()
        theirs.step()
    torch.testing.assert_close(ours_p, torch_p, rtol=1e-5, atol=1e-6)
