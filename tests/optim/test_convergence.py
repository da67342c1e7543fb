"""Convergence on the Rosenbrock function and on an ill-conditioned quadratic (a long narrow
canyon, condition number 100, rotated so that no coordinate follows it, where momentum
matters), and bitwise determinism for a fixed seed."""

from __future__ import annotations

import math

import pytest
import torch

from optim import Adam, AdaMax

OPTIMIZERS = {"Adam": Adam, "AdaMax": AdaMax}
PATHS = {"plain": False, "fast": True}


def rosenbrock(xy: torch.Tensor) -> torch.Tensor:
    x, y = xy[0], xy[1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def canyon_quadratic(condition: float = 100.0):
    """f(z) = ½ zᵀ A z with A = R diag(1, condition) Rᵀ, R a 30° rotation: minimum 0 at 0."""
    angle = math.radians(30)
    rotation = torch.tensor(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]],
        dtype=torch.float64,
    )
    hessian = rotation @ torch.diag(torch.tensor([1.0, condition], dtype=torch.float64))
    hessian = hessian @ rotation.T

    def loss(z: torch.Tensor) -> torch.Tensor:
        return 0.5 * z @ hessian @ z

    return loss


def minimize(loss_fn, start, optimizer_factory, steps: int) -> torch.Tensor:
    z = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_factory([z])
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss_fn(z).backward()
        optimizer.step()
    return z.detach()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_rosenbrock_reaches_minimum(name, path):
    # From (-1.5, 2), along the curved valley to (1, 1).
    def factory(params):
        return OPTIMIZERS[name](params, lr=0.02, fused=PATHS[path])

    z = minimize(rosenbrock, [-1.5, 2.0], factory, steps=5000)
    torch.testing.assert_close(z, torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-6)
    assert rosenbrock(z) < 1e-12


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_narrow_canyon_reaches_minimum(name, path):
    loss = canyon_quadratic()

    def factory(params):
        return OPTIMIZERS[name](params, lr=0.3, fused=PATHS[path])

    z = minimize(loss, [3.0, -2.0], factory, steps=5000)
    assert loss(z) < 1e-20, f"loss {loss(z).item():.3e} at {z.tolist()}"


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_without_momentum_the_same_steps_bounce_across_the_canyon(name):
    # The step size of the test above, β1 = 0: the iterates zig-zag across the canyon
    # instead of settling; the momentum of β1 = 0.9 is what damps them.
    loss = canyon_quadratic()
    z = minimize(
        loss,
        [3.0, -2.0],
        lambda params: OPTIMIZERS[name](params, lr=0.3, betas=(0.0, 0.999)),
        steps=5000,
    )
    assert loss(z) > 1e-3, f"loss {loss(z).item():.3e} at {z.tolist()}"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_training_is_bitwise_deterministic_for_a_seed(name, path):
    def train(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        model = torch.nn.Sequential(
            torch.nn.Linear(20, 64), torch.nn.Tanh(), torch.nn.Linear(64, 3)
        )
        optimizer = OPTIMIZERS[name](model.parameters(), lr=0.01, fused=PATHS[path])
        inputs, targets = torch.randn(128, 20), torch.randint(0, 3, (128,))
        for _ in range(50):
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(inputs), targets).backward()
            optimizer.step()
        return [p.detach().clone() for p in model.parameters()]

    first, second = train(0), train(0)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, train(1), strict=True))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_fast_path_is_independent_of_thread_count(name):
    def step_with(threads: int) -> torch.Tensor:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            generator = torch.Generator().manual_seed(0)
            p = torch.randn(100_000, generator=generator).requires_grad_()
            optimizer = OPTIMIZERS[name]([p], lr=0.01, fused=True)
            for _ in range(5):
                p.grad = torch.randn(100_000, generator=generator)
                optimizer.step()
            return p.detach()
        finally:
            torch.set_num_threads(previous)

    assert torch.equal(step_with(1), step_with(2))
