"""A group of sweep members trained as one stacked model (issue "Batched sweeps", first
part: the training of a group; the scheduler does not form groups yet).

The members share a data set, a model architecture, a batch size, a number of epochs, a
schedule kind and an optimizer (Adam, AdamW or AdaMax); each keeps its own seed, data
order, dropout rate (``MemberDropout``: the rate is a stacked buffer), learning rate,
betas, eps, weight decay and l2. Each member's model
is built as its solo run builds it (``torch.manual_seed(seed)`` then the builder), so its
initialisation is identical; the parameters are stacked along a leading dimension
(``torch.func.stack_module_state``) and the forward pass is ``vmap`` of ``functional_call``
over members, each on the batch its own permutation of the epoch picks
(``worker.engine.epoch_permutation``). The loss summed over members has, for each member,
its own gradient (members share no parameter), and ``optim.batched`` steps all members at
once with their own hyperparameters. Without dropout a member's per-iteration losses equal
its solo run's up to float rounding (the summed loss's backward and the batched update
round differently from the solo ones: tests/worker/test_batched.py bounds it); with dropout
the masks are drawn per member (``randomness="different"``), not as the solo run draws them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from core.spec import ExperimentSpec
from optim.batched import batched_adam, batched_adamax
from worker.datasets import Data
from worker.engine import epoch_permutation
from worker.models import build_model
from worker.schedules import lr_at

GROUPABLE_OPTIMIZERS = ("adam", "adamw", "adamax")


class GroupError(ValueError):
    """Specs that cannot train as one group; the message says which field differs."""


def group_problem(specs: Sequence[ExperimentSpec]) -> str | None:
    """Why ``specs`` cannot train as one group, or None when they can."""
    if not specs:
        return "a group needs at least one member"
    first = specs[0]
    shared = {
        "dataset": lambda s: s.dataset,
        "model": lambda s: s.model.model_copy(update={"dropout": 0.0}),
        "epochs": lambda s: s.epochs,
        "schedule.name": lambda s: s.schedule.name,
        "optimizer.name": lambda s: s.optimizer.name,
    }
    for field_name, read in shared.items():
        if any(read(s) != read(first) for s in specs):
            return f"the members differ in {field_name}; a group shares it"
    if first.optimizer.name not in GROUPABLE_OPTIMIZERS:
        name = first.optimizer.name
        return f"optimizer {name!r} has no batched step (one of {', '.join(GROUPABLE_OPTIMIZERS)})"
    return None


@dataclass
class GroupResult:
    """Per member (in the specs' order): the training objective of every iteration and the
    final test accuracy (classification) or test loss."""

    batch_losses: list[list[float]] = field(default_factory=list)
    test_metric: list[float | None] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    """``succeeded``, ``failed`` (its loss stopped being finite) or ``stopped`` (asked to)."""
    reason: list[str | None] = field(default_factory=list)


StopMember = Callable[[int, int], str | None]
"""Asked after each iteration about each member still training (its index in the specs, the
iteration): a reason to drop it from the stack (a cancel, an early stop), or None."""


class MemberDropout(nn.Module):
    """Inverted dropout whose rate is a buffer, so that stacked members each have their own
    (``stack_module_state`` stacks buffers too): in training, each unit is zeroed with
    probability ``rate`` and the others scaled by 1/(1 − rate), as ``nn.Dropout``."""

    rate: torch.Tensor

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.register_buffer("rate", torch.tensor(float(rate)))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return inputs
        kept = torch.rand_like(inputs) >= self.rate
        return inputs * kept / (1 - self.rate)


def with_member_dropout(model: nn.Module) -> nn.Module:
    """``model`` with each ``nn.Dropout`` replaced by a ``MemberDropout`` of its rate (the
    parameters, and so the initialisation, unchanged)."""
    for name, child in model.named_children():
        if isinstance(child, nn.Dropout):
            setattr(model, name, MemberDropout(child.p))
        else:
            with_member_dropout(child)
    return model


def _column(specs: Sequence[ExperimentSpec], read: object) -> torch.Tensor:
    return torch.tensor([read(s) for s in specs], dtype=torch.float64)  # type: ignore[operator]


def train_group(
    specs: Sequence[ExperimentSpec],
    data: Data,
    *,
    max_iterations: int | None = None,
    stop_member: StopMember | None = None,
) -> GroupResult:
    """Train the members of ``specs`` as one stacked model on the CPU; stop after
    ``max_iterations`` iterations when given (for the equality tests). A member whose loss
    is not finite fails and leaves the stack before the step; one ``stop_member`` names
    leaves it after the step; the others go on exactly as before (members share nothing)."""
    problem = group_problem(specs)
    if problem is not None:
        raise GroupError(problem)
    first = specs[0]
    models: list[nn.Module] = []
    # Without any dropout the models stay as built (no random masks to draw at all).
    any_dropout = any(getattr(spec.model, "dropout", 0.0) > 0 for spec in specs)
    for spec in specs:
        torch.manual_seed(spec.seed)
        model = build_model(spec.model, data.input_shape, data.num_outputs)
        models.append(with_member_dropout(model) if any_dropout else model)
    params, buffers = stack_module_state(models)  # pyright: ignore[reportArgumentType]
    base = models[0]

    def member_loss(
        p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor
    ) -> torch.Tensor:
        outputs = functional_call(base, (p, b), (x,))
        if data.task == "classification":
            return F.cross_entropy(outputs, y)
        return F.mse_loss(outputs, y)

    losses_of = vmap(member_loss, randomness="different")
    names = list(params)
    tensors = [params[n] for n in names]
    exp_avgs = [torch.zeros_like(t) for t in tensors]
    seconds = [torch.zeros_like(t) for t in tensors]
    maxima = (
        [torch.zeros_like(t) for t in tensors] if getattr(first.optimizer, "amsgrad", False) else []
    )
    steps = torch.zeros(len(specs), dtype=torch.int64)
    beta1 = _column(specs, lambda s: s.optimizer.betas[0])
    beta2 = _column(specs, lambda s: s.optimizer.betas[1])
    eps = _column(specs, lambda s: s.optimizer.eps)
    decay = _column(specs, lambda s: s.optimizer.weight_decay)
    l2 = torch.tensor([s.l2 for s in specs])
    n_train, batch_size = len(data.train), first.dataset.batch_size
    steps_per_epoch = math.ceil(n_train / batch_size)
    total_steps = first.epochs * steps_per_epoch
    count = len(specs)
    result = GroupResult(
        batch_losses=[[] for _ in specs],
        test_metric=[None] * count,
        status=["succeeded"] * count,
        reason=[None] * count,
    )
    active = list(range(count))  # the specs' indices of the members still in the stack

    def keep(positions: list[int]) -> None:
        """Only the members at ``positions`` of the stack stay in it, in their order."""
        nonlocal tensors, exp_avgs, seconds, maxima, steps, beta1, beta2, eps, decay, l2
        nonlocal buffers, orders, active
        at = torch.tensor(positions, dtype=torch.int64)
        tensors, exp_avgs, seconds = (
            [t.index_select(0, at) for t in ts] for ts in (tensors, exp_avgs, seconds)
        )
        maxima = [t.index_select(0, at) for t in maxima]
        buffers = {n: b.index_select(0, at) for n, b in buffers.items()}
        steps, beta1, beta2, eps, decay, l2, orders = (
            t.index_select(0, at) for t in (steps, beta1, beta2, eps, decay, l2, orders)
        )
        active = [active[p] for p in positions]

    base.train()
    iteration = 0
    for epoch in range(1, first.epochs + 1):
        orders = torch.stack([epoch_permutation(specs[i].seed, epoch, n_train) for i in active])
        for index in range(steps_per_epoch):
            if not active:
                return result
            iteration += 1
            if max_iterations is not None and iteration > max_iterations:
                return result
            picked = orders[:, index * batch_size : (index + 1) * batch_size]
            inputs, targets = data.train.inputs[picked], data.train.targets[picked]
            for t in tensors:
                t.requires_grad_(True)
            stacked = dict(zip(names, tensors, strict=True))
            data_losses = losses_of(stacked, buffers, inputs, targets)
            objectives = data_losses
            if bool((l2 > 0).any()):
                norms = sum(t.pow(2).flatten(1).sum(1) for t in tensors)
                objectives = data_losses + l2.to(data_losses.dtype) * norms
            values = objectives.detach().tolist()
            for position, value in enumerate(values):
                result.batch_losses[active[position]].append(value)
            finite = [p for p, v in enumerate(values) if math.isfinite(v)]
            for position in sorted(set(range(len(values))) - set(finite)):
                member = active[position]
                result.status[member] = "failed"
                result.reason[member] = (
                    f"training loss became {values[position]} at step {iteration} "
                    f"(epoch {epoch}); lower the learning rate or check the data"
                )
            # The members whose loss is finite take their step; the others leave the stack.
            kept = torch.tensor(finite, dtype=torch.int64)
            grads = list(torch.autograd.grad(objectives.index_select(0, kept).sum(), tensors))
            tensors = [t.detach() for t in tensors]
            if len(finite) < len(values):
                keep(finite)
                grads = [g.index_select(0, kept) for g in grads]
                if not active:
                    return result
            lr = torch.tensor(
                [
                    lr_at(specs[i].schedule, base_lr=specs[i].optimizer.lr, step=iteration,
                          steps_per_epoch=steps_per_epoch, total_steps=total_steps)
                    for i in active
                ],
                dtype=torch.float64,
            )  # fmt: skip
            if first.optimizer.name == "adamax":
                batched_adamax(
                    tensors, grads, exp_avgs, seconds, steps,
                    lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=decay,
                    bias_correction=getattr(first.optimizer, "bias_correction", True),
                )  # fmt: skip
            else:
                batched_adam(
                    tensors, grads, exp_avgs, seconds, maxima, steps,
                    lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=decay,
                    amsgrad=bool(maxima), decoupled_weight_decay=first.optimizer.name == "adamw",
                    bias_correction=getattr(first.optimizer, "bias_correction", True),
                )  # fmt: skip
            if stop_member is not None:
                reasons = {p: stop_member(m, iteration) for p, m in enumerate(active)}
                stopped = {p: r for p, r in reasons.items() if r is not None}
                for position, why in stopped.items():
                    result.status[active[position]], result.reason[active[position]] = (
                        "stopped",
                        why,
                    )
                if stopped:
                    keep([p for p in range(len(active)) if p not in stopped])
    for member, metric in zip(active, _evaluate(base, names, tensors, buffers, data), strict=True):
        result.test_metric[member] = metric
    return result


@torch.no_grad()
def _evaluate(
    base: nn.Module,
    names: list[str],
    tensors: list[torch.Tensor],
    buffers: dict[str, torch.Tensor],
    data: Data,
) -> list[float]:
    """Each member's test accuracy (classification) or test MSE, in evaluation mode."""
    if data.test is None:
        return []
    base.eval()
    stacked = dict(zip(names, tensors, strict=True))
    inputs, targets = data.test.inputs, data.test.targets

    def outputs_of(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(base, (p, b), (inputs,))

    outputs = vmap(outputs_of)(stacked, buffers)
    if data.task == "classification":
        return (outputs.argmax(-1) == targets).to(torch.float64).mean(-1).tolist()
    return ((outputs - targets) ** 2).to(torch.float64).mean(-1).tolist()
