"""The members' outputs of a stacked dense model (linear or logistic regression, the MLP)
by batched matmuls chosen for the CPU, in place of ``vmap`` over ``functional_call``.

A member m's linear layer is ``y_m = x_m W_mᵀ + b_m`` with ``x_m`` of shape ``[B, in]``
and ``W_m`` of ``[out, in]``; stacked, ``x`` is ``[M, B, in]``, ``W`` ``[M, out, in]`` and
``b`` ``[M, out]``. The backward is that of M separate layers:
``∂L/∂x_m = g_m W_m``, ``∂L/∂W_m = g_mᵀ x_m``, ``∂L/∂b_m = Σ_B g_m``, with ``g_m`` the
gradient of the loss with respect to ``y_m``.

Why not ``vmap``: it writes both products in one orientation, and on the CPU the
orientation matters (measured on this project's 2-core machine, 16 members, batch 128):
a narrow layer's forward ``W xᵀ`` is 3× faster than ``x Wᵀ`` (784 → 10: 0.47 against
1.39 ms), and a wide layer's weight gradient computed member by member (``g_mᵀ x_m``
into its slot of one contiguous ``[M, out, in]`` tensor) takes 29 ms where vmap's
``bmm(xᵀ, g)`` takes 51 ms (784 → 1000). The member-by-member gradient is also
contiguous per member, which the optimizer's per-member kernel path needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from worker.member_stack import MemberDropout
from worker.models import LinearRegression, LogisticRegression, Mlp

# A layer whose outputs are at most this wide computes its forward as ``(W xᵀ)ᵀ``.
NARROW_OUTPUTS = 64
# A weight of at least this many elements gets its gradient member by member.
WIDE_WEIGHT_ELEMENTS = 65_536


class WeightGradients:
    """Memory for the wide weights' gradients, reused by each backward of the same layer.

    A gradient handed out is overwritten by the next backward of its layer, so the caller
    must be done with it by then (a training step is: the optimizer consumes it). Why: a
    16-member gradient of a 1000 × 1000 weight is 64 MB, over glibc's largest threshold
    for serving a request from freed memory, so a fresh one is mapped at every step and
    its first touch page-faults: the member-by-member products then take 80 ms a step in
    place of 39 (MNIST MLP, 16 members, this project's 2-core machine).
    """

    def __init__(self) -> None:
        self._tensors: dict[str, torch.Tensor] = {}

    def like(self, key: str, weight: torch.Tensor) -> torch.Tensor:
        """A contiguous tensor of ``weight``'s shape, dtype and device, kept under ``key``."""
        kept = self._tensors.get(key)
        if (
            kept is None
            or kept.shape != weight.shape
            or kept.dtype != weight.dtype
            or kept.device != weight.device
        ):
            kept = torch.empty(weight.shape, dtype=weight.dtype, device=weight.device)
            self._tensors[key] = kept
        return kept


class StackedLinear(torch.autograd.Function):
    """``y = x Wᵀ + b`` for each member; see the module's docstring for the backward. With
    ``memory`` (and its ``key``), a wide weight's gradient is written into memory reused
    from the previous backward (``WeightGradients``)."""

    @staticmethod
    def forward(
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        memory: WeightGradients | None = None,
        key: str = "",
    ) -> torch.Tensor:
        if weight.shape[1] <= NARROW_OUTPUTS:
            return torch.baddbmm(bias.unsqueeze(2), weight, x.mT).mT.contiguous()
        return torch.baddbmm(bias.unsqueeze(1), x, weight.mT)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # noqa: ANN001 (torch's signature)
        x, weight, _, memory, key = inputs
        ctx.save_for_backward(x, weight)
        ctx.memory, ctx.key = memory, key

    @staticmethod
    def backward(ctx, *grad_outputs: torch.Tensor):  # noqa: ANN001, ANN205
        (grad_output,) = grad_outputs
        x, weight = ctx.saved_tensors
        grad_x = torch.bmm(grad_output, weight) if ctx.needs_input_grad[0] else None
        if weight[0].numel() >= WIDE_WEIGHT_ELEMENTS:
            if ctx.memory is not None:
                grad_weight = ctx.memory.like(ctx.key, weight)
            else:
                grad_weight = torch.empty_like(weight, memory_format=torch.contiguous_format)
            for member in range(weight.shape[0]):
                torch.mm(grad_output[member].T, x[member], out=grad_weight[member])
        else:
            grad_weight = torch.bmm(grad_output.mT, x)
        return grad_x, grad_weight, grad_output.sum(1), None, None


@dataclass(frozen=True)
class _Linear:
    weight: str
    bias: str


@dataclass(frozen=True)
class _Dropout:
    rate: str  # the stacked buffer of each member's rate


class _Relu:
    pass


_Layer = _Linear | _Dropout | _Relu


@dataclass(frozen=True)
class DensePlan:
    """The layers of a dense model in order, by the stacked tensors' names."""

    layers: tuple[_Layer, ...]
    squeeze_output: bool  # linear regression's one output per example
    weight_gradients: WeightGradients = field(default_factory=WeightGradients, compare=False)

    def outputs(
        self,
        parameters: dict[str, torch.Tensor],
        buffers: dict[str, torch.Tensor],
        inputs: torch.Tensor,
        *,
        training: bool,
    ) -> torch.Tensor:
        """Each member's outputs ``[M, B, ...]`` from its batch ``inputs`` ``[M, B, ...]``."""
        hidden = inputs.flatten(2)
        for layer in self.layers:
            if isinstance(layer, _Linear):
                hidden = StackedLinear.apply(
                    hidden,
                    parameters[layer.weight],
                    parameters[layer.bias],
                    self.weight_gradients,
                    layer.weight,
                )
            elif isinstance(layer, _Relu):
                hidden = torch.relu(hidden)
            elif training:
                rate = buffers[layer.rate].view(-1, 1, 1).to(hidden.dtype)
                kept = torch.rand_like(hidden) >= rate
                hidden = hidden * kept / (1 - rate)
        return hidden.squeeze(2) if self.squeeze_output else hidden

    @property
    def is_linear(self) -> bool:
        """One linear layer (after dropout, the identity in evaluation)."""
        return sum(isinstance(layer, _Linear) for layer in self.layers) == 1 and not any(
            isinstance(layer, _Relu) for layer in self.layers
        )

    def linear_outputs_on_shared(
        self, parameters: dict[str, torch.Tensor], inputs: torch.Tensor
    ) -> torch.Tensor:
        """Every member's outputs ``[M, N, ...]`` on the same ``inputs`` ``[N, ...]`` in
        evaluation, for a plan that ``is_linear``: one product ``x [W_1; …; W_M]ᵀ``, five
        times faster than M products on the CPU (MNIST LR, 16 members, 1,000 images:
        2.1 against 10.0 ms; a member's columns come out the same wherever it sits).
        """
        (linear,) = [layer for layer in self.layers if isinstance(layer, _Linear)]
        weight, bias = parameters[linear.weight], parameters[linear.bias]
        members, outputs, features = weight.shape
        x = inputs.flatten(1)
        joined = torch.addmm(bias.reshape(-1), x, weight.reshape(members * outputs, features).T)
        stacked = joined.view(len(x), members, outputs).transpose(0, 1)
        return stacked.squeeze(2) if self.squeeze_output else stacked


def dense_plan(model: nn.Module) -> DensePlan | None:
    """The plan of ``model`` when it is a dense model this module computes, else None."""
    if isinstance(model, LinearRegression | LogisticRegression):
        sequence: list[tuple[str, nn.Module]] = [
            ("dropout", model.dropout),
            ("linear", model.linear),
        ]
    elif isinstance(model, Mlp):
        sequence = [(f"layers.{name}", module) for name, module in model.layers.named_children()]
    else:
        return None
    layers: list[_Layer] = []
    for name, module in sequence:
        if isinstance(module, nn.Linear):
            if module.bias is None:
                return None
            layers.append(_Linear(f"{name}.weight", f"{name}.bias"))
        elif isinstance(module, nn.ReLU):
            layers.append(_Relu())
        elif isinstance(module, MemberDropout):
            layers.append(_Dropout(f"{name}.rate"))
        elif isinstance(module, nn.Dropout):
            if module.p > 0:
                return None  # every member's dropout is a MemberDropout in a stack
        else:
            return None
    return DensePlan(tuple(layers), squeeze_output=isinstance(model, LinearRegression))
