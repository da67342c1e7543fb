"""The state of a group's members as one stack, and each member's checkpoint in and out of
it, in the solo run's format (``worker/resume.py``), so that a member resumes from its
checkpoint alone, in the same group or in another one.

A member's model is built as its solo run builds it (``torch.manual_seed(seed)`` then the
builder), so its initialisation is identical; with dropout in any member, every
``nn.Dropout`` becomes a ``MemberDropout`` whose rate is a buffer, so that each member has
its own rate once stacked. Parameters and buffers are stacked along a leading member
dimension (``torch.func.stack_module_state``); the optimizer's moments (m, v, and for
AMSGrad max v; for AdaMax m and u) are stacked the same way, with one step count per member.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.func import stack_module_state

from core.spec import ExperimentSpec
from worker.checkpoints import Checkpoint, load_latest_checkpoint
from worker.errors import EngineError
from worker.models import build_model
from worker.optimizers import build_optimizer
from worker.resume import NON_TRAINING_FIELDS


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


def moment_keys(spec: ExperimentSpec) -> tuple[str, ...]:
    """The optimizer's per-parameter moments, under its state dict's keys."""
    if spec.optimizer.name == "sgd":
        return ("momentum_buffer",)  # kept by torch's SGD only with momentum
    if spec.optimizer.name == "adamax":
        return ("exp_avg", "exp_inf")
    if getattr(spec.optimizer, "amsgrad", False):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    return ("exp_avg", "exp_avg_sq")


@dataclass
class MemberStack:
    """The members' parameters, buffers, moments and step counts, stacked (member first).

    The parameters are one ``[M, P]`` tensor, ``flat`` (P: one member's parameter count),
    and each moment of the optimizer one more (``flat_moments``). ``tensors`` and
    ``moments`` are their per-parameter views ``[M, *shape]``, for ``functional_call``,
    the per-tensor step and the checkpoints; ``leaves`` the same storage as tensors of
    their own for autograd (a gradient through a slice of ``flat`` would allocate all of
    ``flat`` once per parameter). A small stack steps ``flat`` whole: one batched step then
    updates every parameter in a few operations, where a step per tensor would cost the
    small models more than their arithmetic. ``modules[i]`` is member i's own module (used
    to write and read its checkpoints); ``base`` is the module whose structure
    ``functional_call`` runs on.
    """

    specs: list[ExperimentSpec]
    modules: list[nn.Module]
    names: list[str]
    shapes: list[torch.Size]
    flat: torch.Tensor
    flat_moments: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    steps: torch.Tensor
    start_epoch: int
    last_metrics: list[dict[str, float]]

    @property
    def base(self) -> nn.Module:
        return self.modules[0]

    @property
    def tensors(self) -> list[torch.Tensor]:
        """Each parameter's ``[M, *shape]`` view of ``flat``."""
        return _views(self.flat, self.shapes)

    def leaves(self) -> list[torch.Tensor]:
        """``tensors`` as autograd leaves on the same storage, requiring a gradient."""
        return [view.detach().requires_grad_(True) for view in self.tensors]

    @property
    def moments(self) -> dict[str, list[torch.Tensor]]:
        return {key: _views(flat, self.shapes) for key, flat in self.flat_moments.items()}

    def line_parameters(self) -> dict[str, list[float]]:
        """w and b per member of a one-input linear regression (as
        ``worker.evaluation.line_parameters`` for one model); empty for any other model."""
        named = dict(zip(self.names, self.tensors, strict=True))
        weight, bias = named.get("linear.weight"), named.get("linear.bias")
        if weight is None or bias is None or weight[0].numel() != 1:
            return {}
        return {"w": weight.flatten().tolist(), "b": bias.flatten().tolist()}

    def keep(self, positions: list[int]) -> None:
        """Only the members at ``positions`` of the stack stay in it, in their order."""
        at = torch.tensor(positions, dtype=torch.int64)

        def kept(t: torch.Tensor) -> torch.Tensor:
            return t.index_select(0, at.to(t.device))

        self.flat = kept(self.flat)
        self.flat_moments = {k: kept(t) for k, t in self.flat_moments.items()}
        self.buffers = {n: kept(b) for n, b in self.buffers.items()}
        self.steps = kept(self.steps)

    def member_checkpoint(
        self,
        position: int,
        member: int,
        *,
        epoch: int,
        steps_per_epoch: int,
        lr: float,
        metrics: dict[str, float],
    ) -> Checkpoint:
        """Member ``member``'s checkpoint (at ``position`` of the stack) after ``epoch``: its
        model's and its optimizer's state dicts exactly as its solo run would save them."""
        spec, module = self.specs[member], self.modules[member]
        with torch.no_grad():
            for name, tensor in zip(self.names, self.tensors, strict=True):
                module.get_parameter(name).copy_(tensor[position])
        moments = self.moments
        optimizer = build_optimizer(spec.optimizer, module.parameters())
        for group in optimizer.param_groups:
            group["lr"] = lr
        step = torch.tensor(float(self.steps[position].item()), dtype=torch.float32)
        sgd_without_momentum = spec.optimizer.name == "sgd" and not _has_momentum(spec)
        for index, parameter in enumerate(module.parameters()):
            if sgd_without_momentum:
                continue  # torch's SGD keeps no state then
            # torch's SGD keeps no step count; the Adam family keeps one per parameter.
            state = {} if spec.optimizer.name == "sgd" else {"step": step.clone()}
            for key, stacked in moments.items():
                state[key] = stacked[index][position].detach().clone()
            optimizer.state[parameter] = state
        return Checkpoint(
            epoch=epoch,
            step=epoch * steps_per_epoch,
            spec_json=spec.model_dump_json(),
            model_state=_solo_state_dict(module),
            optimizer_state=optimizer.state_dict(),
            cpu_rng_state=torch.get_rng_state(),
            cuda_rng_state=None,
            epoch_metrics=metrics,
        )


ALIGNMENT_ELEMENTS = 16
"""Each parameter's segment of a row of ``flat`` starts at a multiple of 64 bytes (fp32):
the matmul kernels round differently at other alignments, and a member's curve must not
depend on its position in the stack (a resumed group may list its members in another
order). The padding between segments is zeros and stays zeros (its gradient is zero)."""


def _padded(size: int) -> int:
    return -(-size // ALIGNMENT_ELEMENTS) * ALIGNMENT_ELEMENTS


def row_size(shapes: list[torch.Size]) -> int:
    """The elements of one member's row of ``flat``, padding included."""
    return sum(_padded(shape.numel()) for shape in shapes)


def _views(flat: torch.Tensor, shapes: list[torch.Size]) -> list[torch.Tensor]:
    """``flat`` ([M, P]) cut into one ``[M, *shape]`` view per shape, in order."""
    views, start = [], 0
    for shape in shapes:
        size = shape.numel()
        views.append(flat[:, start : start + size].view(flat.shape[0], *shape))
        start += _padded(size)
    return views


def joined(per_parameter: list[torch.Tensor], shapes: list[torch.Size]) -> torch.Tensor:
    """``[M, *shape]`` tensors joined into one zero-padded ``[M, P]`` tensor (``_views``
    undoes it)."""
    first = per_parameter[0]
    flat = first.new_zeros(first.shape[0], row_size(shapes))
    for view, tensor in zip(_views(flat, shapes), per_parameter, strict=True):
        view.copy_(tensor)
    return flat


def _has_momentum(spec: ExperimentSpec) -> bool:
    return getattr(spec.optimizer, "momentum", 0.0) > 0


def _saved(state: dict[str, torch.Tensor], key: str, *, like: torch.Tensor) -> torch.Tensor:
    """A moment from a solo optimizer's state; zeros where it keeps none (SGD without
    momentum, whose buffer the batched step leaves untouched)."""
    value = state.get(key)
    return torch.zeros_like(like) if value is None else value.detach().clone()


def _solo_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's state dict without the ``MemberDropout`` rates (a solo model has none)."""
    rates = {f"{name}.rate" for name, m in module.named_modules() if isinstance(m, MemberDropout)}
    return {k: v.detach().clone() for k, v in module.state_dict().items() if k not in rates}


def _checked(
    spec: ExperimentSpec, checkpoint: Checkpoint, folder: Path, steps_per_epoch: int
) -> None:
    stored = ExperimentSpec.model_validate_json(checkpoint.spec_json)
    ours = spec.model_dump(exclude=set(NON_TRAINING_FIELDS))
    theirs = stored.model_dump(exclude=set(NON_TRAINING_FIELDS))
    if ours != theirs:
        differing = sorted(key for key in ours if ours[key] != theirs.get(key))
        raise EngineError(
            f"checkpoint folder {folder} holds a run of a different spec "
            f"(differs in {', '.join(differing)}); use a new folder for a new spec"
        )
    if checkpoint.step != checkpoint.epoch * steps_per_epoch:
        raise EngineError(f"checkpoint of epoch {checkpoint.epoch} is at an odd step")


def build_stack(
    specs: list[ExperimentSpec],
    *,
    input_shape: tuple[int, ...],
    num_outputs: int,
    folders: list[Path | None],
    steps_per_epoch: int,
    device: torch.device,
) -> MemberStack:
    """The members built as their solo runs build them, each restored from the newest
    checkpoint in its folder where there is one; all checkpoints must be of the same epoch
    (the caller groups members by it). Torch's RNG state is the first checkpoint's: a
    group resumed as it was continues exactly (with dropout too)."""
    any_dropout = any(getattr(spec.model, "dropout", 0.0) > 0 for spec in specs)
    modules: list[nn.Module] = []
    checkpoints: list[Checkpoint | None] = []
    for spec, folder in zip(specs, folders, strict=True):
        torch.manual_seed(spec.seed)
        module = build_model(spec.model, input_shape, num_outputs)
        # Without any dropout the models stay as built (no random masks to draw at all).
        modules.append(with_member_dropout(module) if any_dropout else module)
        checkpoint = load_latest_checkpoint(folder)
        if checkpoint is not None:
            assert folder is not None
            _checked(spec, checkpoint, folder, steps_per_epoch)
        checkpoints.append(checkpoint)
    epochs = {c.epoch if c is not None else 0 for c in checkpoints}
    if len(epochs) > 1:
        raise EngineError(f"the members' checkpoints are of different epochs {sorted(epochs)}")
    keys = moment_keys(specs[0])
    moment_lists: dict[str, list[list[torch.Tensor]]] = {k: [] for k in keys}
    step_counts: list[int] = []
    for module, spec, checkpoint in zip(modules, specs, checkpoints, strict=True):
        parameters = list(module.parameters())
        if checkpoint is None:
            for key in keys:
                moment_lists[key].append([torch.zeros_like(p) for p in parameters])
            step_counts.append(0)
            continue
        missing, unexpected = module.load_state_dict(checkpoint.model_state, strict=False)
        if unexpected or any(not name.endswith(".rate") for name in missing):
            raise EngineError(f"checkpoint of a different model ({missing + unexpected})")
        optimizer = build_optimizer(spec.optimizer, parameters)
        optimizer.load_state_dict(checkpoint.optimizer_state)
        for key in keys:
            moment_lists[key].append([_saved(optimizer.state[p], key, like=p) for p in parameters])
        saved_step = optimizer.state[parameters[0]].get("step")
        # torch's SGD keeps no step count: its steps are the checkpoint's iterations.
        step_counts.append(int(saved_step.item()) if saved_step is not None else checkpoint.step)
    if checkpoints[0] is not None:
        torch.set_rng_state(checkpoints[0].cpu_rng_state)
    for module in modules:
        module.to(device)
    params, buffers = stack_module_state(modules)  # pyright: ignore[reportArgumentType]
    names = list(params)
    shapes = [params[n].shape[1:] for n in names]
    moments = {
        key: joined(
            [
                torch.stack([member[i] for member in per_member]).to(device)
                for i in range(len(names))
            ],
            shapes,
        )
        for key, per_member in moment_lists.items()
    }
    return MemberStack(
        specs=specs,
        modules=modules,
        names=names,
        shapes=shapes,
        flat=joined([params[n].detach() for n in names], shapes),
        flat_moments=moments,
        buffers={n: b.detach() for n, b in buffers.items()},
        steps=torch.tensor(step_counts, dtype=torch.int64),
        start_epoch=(checkpoints[0].epoch + 1) if checkpoints[0] is not None else 1,
        last_metrics=[dict(c.epoch_metrics) if c is not None else {} for c in checkpoints],
    )
