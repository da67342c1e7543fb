"""worker.stacked_dense: the stacked dense forward and its hand-written backward equal M
separate modules (outputs and every gradient, in float64 to 1e-10), for narrow and wide
layers (the two orientations and the member-by-member weight gradient), with ReLU and
per-member dropout rates; a linear model's shared-input evaluation equals each member's
own product, and is the same for a member wherever it sits in the stack."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from torch import nn
from torch.func import functional_call

from worker.member_stack import MemberDropout, with_member_dropout
from worker.models import LinearRegression, LogisticRegression, Mlp
from worker.stacked_dense import (
    WIDE_WEIGHT_ELEMENTS,
    StackedLinear,
    WeightGradients,
    dense_plan,
)


def stacked(modules: Sequence[nn.Module]) -> dict[str, torch.Tensor]:
    names = [name for name, _ in modules[0].named_parameters()]
    return {
        name: torch.stack([dict(m.named_parameters())[name].detach() for m in modules])
        .clone()
        .requires_grad_(True)
        for name in names
    }


@pytest.mark.parametrize(
    ("features", "outputs"),
    [(784, 10), (300, 300)],  # narrow: (W xᵀ)ᵀ; wide: the weight's gradient member by member
)
def test_stacked_linear_equals_each_members_linear(features: int, outputs: int) -> None:
    generator = torch.Generator().manual_seed(0)
    members, batch = 5, 7
    x = torch.randn(members, batch, features, dtype=torch.float64, generator=generator)
    weight = torch.randn(members, outputs, features, dtype=torch.float64, generator=generator)
    bias = torch.randn(members, outputs, dtype=torch.float64, generator=generator)
    if outputs == 300:
        assert outputs * features >= WIDE_WEIGHT_ELEMENTS
    leaves = [t.clone().requires_grad_(True) for t in (x, weight, bias)]
    ours = StackedLinear.apply(*leaves)
    upstream = torch.randn(ours.shape, dtype=torch.float64, generator=generator)
    ours_grads = torch.autograd.grad((ours * upstream).sum(), leaves)
    plain = [t.clone().requires_grad_(True) for t in (x, weight, bias)]
    theirs = torch.stack(
        [nn.functional.linear(plain[0][m], plain[1][m], plain[2][m]) for m in range(members)]
    )
    theirs_grads = torch.autograd.grad((theirs * upstream).sum(), plain)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    for got, want in zip(ours_grads, theirs_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_a_wide_weights_gradient_in_reused_memory_is_each_backwards_own() -> None:
    generator = torch.Generator().manual_seed(1)
    memory = WeightGradients()
    weight = torch.randn(3, 300, 300, generator=generator, dtype=torch.float64)
    bias = torch.zeros(3, 300, dtype=torch.float64)
    handed_out = []
    for _ in range(2):
        x = torch.randn(3, 5, 300, generator=generator, dtype=torch.float64)
        leaf = weight.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(StackedLinear.apply(x, leaf, bias, memory, "w").sum(), [leaf])
        torch.testing.assert_close(grad, torch.ones(3, 5, 300, dtype=torch.float64).mT @ x)
        handed_out.append(grad.data_ptr())
    assert handed_out[0] == handed_out[1]  # the same memory, no fresh 64 MB a step


@pytest.mark.parametrize(
    "build",
    [
        lambda: LogisticRegression(20, 4, dropout=0.0),
        lambda: LinearRegression(20, dropout=0.0),
        lambda: Mlp(20, [300, 16], 4, dropout=0.0),
    ],
)
def test_a_dense_plan_equals_each_members_module(build) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    modules = [build().double() for _ in range(3)]
    plan = dense_plan(modules[0])
    assert plan is not None
    parameters = stacked(modules)
    inputs = torch.randn(3, 9, 20, dtype=torch.float64)
    ours = plan.outputs(parameters, {}, inputs, training=True)
    ours_grads = torch.autograd.grad(ours.square().sum(), list(parameters.values()))
    member_parameters = [{name: tensor[m] for name, tensor in parameters.items()} for m in range(3)]
    theirs = torch.stack(
        [functional_call(modules[0], p, (inputs[m],)) for m, p in enumerate(member_parameters)]
    )
    theirs_grads = torch.autograd.grad(theirs.square().sum(), list(parameters.values()))
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    for got, want in zip(ours_grads, theirs_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_each_member_drops_units_at_its_own_rate() -> None:
    torch.manual_seed(0)
    module = with_member_dropout(Mlp(50, [400], 3, dropout=0.5))
    assert any(isinstance(m, MemberDropout) for m in module.modules())
    plan = dense_plan(module)
    assert plan is not None
    parameters = {name: p.detach().unsqueeze(0).repeat(3, *[1] * p.dim())
                  for name, p in module.named_parameters()}  # fmt: skip
    rates = {"layers.2.rate": torch.tensor([0.0, 0.25, 0.75])}
    hidden = plan.layers[:3]  # the first linear layer, its ReLU and its dropout
    kept = []
    partial = type(plan)(hidden, squeeze_output=False)
    for _ in range(20):
        out = partial.outputs(parameters, rates, torch.rand(3, 64, 50) + 1, training=True)
        kept.append((out != 0).double().mean((1, 2)))
    fractions = torch.stack(kept).mean(0)
    before = type(plan)(hidden[:2], squeeze_output=False).outputs(
        parameters, rates, torch.rand(3, 64, 50) + 1, training=True
    )
    alive = (before != 0).double().mean().item()  # units the ReLU passes
    torch.testing.assert_close(fractions / alive, torch.tensor([1.0, 0.75, 0.25],
                                                               dtype=torch.float64), atol=0.02,
                               rtol=0)  # fmt: skip
    evaluated = partial.outputs(parameters, rates, torch.ones(3, 4, 50), training=False)
    assert torch.equal(evaluated[0], evaluated[2])  # no dropout in evaluation


def test_models_it_does_not_compute_have_no_plan() -> None:
    from worker.models import Cnn

    assert dense_plan(Cnn((1, 28, 28), (4, 8), 16, 10, dropout=0.0)) is None
    assert dense_plan(Mlp(20, [8], 4, dropout=0.5)) is None  # nn.Dropout: not a stack's


def test_a_linear_models_shared_evaluation_equals_each_members_product() -> None:
    torch.manual_seed(0)
    modules = [LogisticRegression(784, 10, dropout=0.0) for _ in range(6)]
    plan = dense_plan(modules[0])
    assert plan is not None and plan.is_linear
    parameters = {k: v.detach() for k, v in stacked(modules).items()}
    inputs = torch.randn(1000, 1, 28, 28)
    ours = plan.linear_outputs_on_shared(parameters, inputs)
    theirs = torch.stack([m(inputs) for m in modules]).detach()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    order = [3, 0, 5, 1, 4, 2]
    shuffled = {k: v[order] for k, v in parameters.items()}
    assert torch.equal(plan.linear_outputs_on_shared(shuffled, inputs), ours[order])
    assert not dense_plan(Mlp(20, [8], 4, dropout=0.0)).is_linear  # type: ignore[union-attr]
