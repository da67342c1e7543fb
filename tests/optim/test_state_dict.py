"""State dicts: torch.optim's keys, a round trip through torch.save, interop with torch.optim
in both directions, and save → load → continue equal to an uninterrupted run."""

from __future__ import annotations

import io

import pytest
import torch

from optim import Adam, AdaMax

STEPS_BEFORE, STEPS_AFTER = 30, 30
CASES = {
    "Adam": (
        lambda ps, fused: Adam(ps, lr=0.02, weight_decay=0.1, amsgrad=True, fused=fused),
        lambda ps: torch.optim.Adam(ps, lr=0.02, weight_decay=0.1, amsgrad=True),
        {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    ),
    "AdaMax": (
        lambda ps, fused: AdaMax(ps, lr=0.02, weight_decay=0.1, fused=fused),
        lambda ps: torch.optim.Adamax(ps, lr=0.02, weight_decay=0.1),
        {"step", "exp_avg", "exp_inf"},
    ),
}
PATHS = {"plain": False, "fast": True}


def fresh_params(seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(4, 3, generator=generator).requires_grad_(),
        torch.randn(5, generator=generator).requires_grad_(),
        torch.randn(0, generator=generator).requires_grad_(),
    ]


def gradients(step: int, params: list[torch.Tensor]) -> list[torch.Tensor | None]:
    generator = torch.Generator().manual_seed(1000 + step)
    grads = [torch.randn(p.shape, generator=generator) for p in params]
    if step % 4 == 3:
        grads[1] = None  # a parameter that sits out a step keeps its own step count
    return grads


def run(optimizer, params, first_step: int, steps: int) -> None:
    for step in range(first_step, first_step + steps):
        for p, g in zip(params, gradients(step, params), strict=True):
            p.grad = g
        optimizer.step()


def through_bytes(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def tolerance(path: str) -> dict:
    # The plain path computes what torch's for-loop computes, operation for operation.
    return {"rtol": 0, "atol": 0} if path == "plain" else {"rtol": 1e-5, "atol": 1e-6}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", CASES)
def test_state_uses_torch_keys(name, path):
    make_ours, _, keys = CASES[name]
    params = fresh_params()
    optimizer = make_ours(params, PATHS[path])
    run(optimizer, params, 0, 4)
    for p in params:
        assert set(optimizer.state[p]) == keys
        assert optimizer.state[p]["step"].dtype == torch.float32
    assert float(optimizer.state[params[0]]["step"]) == 4
    assert float(optimizer.state[params[1]]["step"]) == 3  # its grad was None at step 3


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", CASES)
def test_save_load_continue_equals_uninterrupted(name, path):
    make_ours, _, _ = CASES[name]
    uninterrupted_params = fresh_params()
    uninterrupted = make_ours(uninterrupted_params, PATHS[path])
    run(uninterrupted, uninterrupted_params, 0, STEPS_BEFORE + STEPS_AFTER)

    first_params = fresh_params()
    first = make_ours(first_params, PATHS[path])
    run(first, first_params, 0, STEPS_BEFORE)
    saved = through_bytes(
        {"params": [p.detach() for p in first_params], "optimizer": first.state_dict()}
    )
    resumed_params = [p.clone().requires_grad_() for p in saved["params"]]
    resumed = make_ours(resumed_params, PATHS[path])
    resumed.load_state_dict(saved["optimizer"])
    run(resumed, resumed_params, STEPS_BEFORE, STEPS_AFTER)

    torch.testing.assert_close(resumed_params, uninterrupted_params, rtol=0, atol=0)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", CASES)
def test_our_state_dict_continues_in_torch(name, path):
    make_ours, make_torch, _ = CASES[name]
    ours_params = fresh_params()
    ours = make_ours(ours_params, PATHS[path])
    run(ours, ours_params, 0, STEPS_BEFORE)

    torch_params = [p.detach().clone().requires_grad_() for p in ours_params]
    theirs = make_torch(torch_params)
    theirs.load_state_dict(through_bytes(ours.state_dict()))
    run(ours, ours_params, STEPS_BEFORE, STEPS_AFTER)
    run(theirs, torch_params, STEPS_BEFORE, STEPS_AFTER)

    torch.testing.assert_close(ours_params, torch_params, **tolerance(path))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", CASES)
def test_torch_state_dict_continues_in_ours(name, path):
    make_ours, make_torch, _ = CASES[name]
    torch_params = fresh_params()
    theirs = make_torch(torch_params)
    run(theirs, torch_params, 0, STEPS_BEFORE)

    ours_params = [p.detach().clone().requires_grad_() for p in torch_params]
    ours = make_ours(ours_params, PATHS[path])
    ours.load_state_dict(through_bytes(theirs.state_dict()))
    assert ours.param_groups[0]["bias_correction"] is True  # filled in for torch's groups
    # As in torch.optim, loading takes every group option from the state dict, "fused"
    # included (torch's None would mean: the fast path); choose the path under test again.
    ours.param_groups[0]["fused"] = PATHS[path]
    run(ours, ours_params, STEPS_BEFORE, STEPS_AFTER)
    run(theirs, torch_params, STEPS_BEFORE, STEPS_AFTER)

    torch.testing.assert_close(ours_params, torch_params, **tolerance(path))


def test_state_of_torch_fused_adam_continues_in_ours():
    torch_params = fresh_params()
    theirs = torch.optim.Adam(torch_params, lr=0.02, fused=True)
    run(theirs, torch_params, 0, STEPS_BEFORE)

    ours_params = [p.detach().clone().requires_grad_() for p in torch_params]
    ours = Adam(ours_params, lr=0.02)
    ours.load_state_dict(through_bytes(theirs.state_dict()))
    run(ours, ours_params, STEPS_BEFORE, STEPS_AFTER)
    run(theirs, torch_params, STEPS_BEFORE, STEPS_AFTER)

    torch.testing.assert_close(ours_params, torch_params, rtol=1e-5, atol=1e-6)
