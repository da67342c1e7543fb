"""The optimizers under ``torch.compile`` (on the CPU, a tiny model): a compiled
``optimizer.step`` computes what the eager one does, and a compiled training step (forward,
backward and step) trains like the eager loop."""

from __future__ import annotations

import pytest
import torch

from optim import Adam, AdaMax

OPTIMIZERS = {"Adam": Adam, "AdaMax": AdaMax}
STEPS = 6


def setup(name: str):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    optimizer = OPTIMIZERS[name](model.parameters(), lr=0.05, weight_decay=0.01)
    return model, optimizer, torch.randn(16, 6), torch.randn(16, 2)


def train(name: str, *, compile_step: bool, compile_everything: bool) -> list[torch.Tensor]:
    model, optimizer, inputs, targets = setup(name)
    optimizer_step = torch.compile(optimizer.step) if compile_step else optimizer.step

    def training_step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer_step()
        return loss

    step = torch.compile(training_step) if compile_everything else training_step
    for _ in range(STEPS):
        step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_compiled_optimizer_step_equals_eager(name):
    eager = train(name, compile_step=False, compile_everything=False)
    compiled = train(name, compile_step=True, compile_everything=False)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)
    initial = [p.detach() for p in setup(name)[0].parameters()]
    assert not any(torch.equal(a, b) for a, b in zip(initial, eager, strict=True))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_compiled_training_step_trains_like_eager(name):
    # The compiled forward and backward round differently from eager ones; Adam's first
    # steps (about lr times the sign of each gradient) carry that into the last digits.
    eager = train(name, compile_step=False, compile_everything=False)
    compiled = train(name, compile_step=False, compile_everything=True)
    torch.testing.assert_close(compiled, eager, rtol=1e-3, atol=1e-4)
