"""The bookkeeping Adam and AdaMax share: hyperparameter checks, param groups, lazy state and
the step loop. A subclass names its moment estimates and calls its functional update."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, overload

import torch
from torch import Tensor

from optim._validation import check_hyperparameters

CHECKED_HYPERPARAMETERS = ("lr", "betas", "eps", "weight_decay")

#: The group options of ours that torch.optim's Adam and Adamax lack, with their defaults.
OPTIONS_TORCH_LACKS: dict[str, Any] = {
    "decoupled_weight_decay": False,
    "maximize": False,
    "bias_correction": True,
    "fused": None,
}


def _scalar(value: float | Tensor) -> float:
    return value.item() if isinstance(value, Tensor) else float(value)


class AdamFamily(torch.optim.Optimizer, abc.ABC):
    """A ``torch.optim.Optimizer`` of the Adam family, in torch.optim's anatomy: the
    constructor checks lr, betas, eps and weight_decay (``ValueError`` naming the value),
    state is created in ``self.state[p]`` at a parameter's first step, and
    :meth:`step` gathers each group's tensors into lists for :meth:`_update`.

    Subclasses set :attr:`moment_keys` and :attr:`options_torch_lacks` and implement
    :meth:`_update`; see :class:`optim.Adam` and :class:`optim.AdaMax`.
    """

    #: The state keys of the moment estimates every parameter has (zeros at the first step).
    moment_keys: ClassVar[tuple[str, ...]]
    #: Group options that a state dict saved by the torch.optim counterpart may lack, with the
    #: values that reproduce its behaviour (filled in by ``load_state_dict``).
    options_torch_lacks: ClassVar[dict[str, Any]]
    #: Appended to the error for sparse gradients.
    sparse_gradient_advice: ClassVar[str] = ""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        *,
        lr: float | Tensor,
        betas: tuple[float, float],
        eps: float,
        weight_decay: float,
        **options: Any,
    ) -> None:
        check_hyperparameters(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        defaults = {
            "lr": lr,
            "betas": (_scalar(betas[0]), _scalar(betas[1])),
            "eps": eps,
            "weight_decay": weight_decay,
            **options,
        }
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (as torch), checking the hyperparameters it sets for itself."""
        check_hyperparameters(
            **{name: param_group.get(name, self.defaults[name]) for name in CHECKED_HYPERPARAMETERS}
        )
        super().add_param_group(param_group)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Also called by load_state_dict: groups saved by torch.optim lack our keys.
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self.options_torch_lacks.items():
                group.setdefault(key, value)

    def _optional_moment_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        """Moments a group's options ask for on top of :attr:`moment_keys` (created when
        missing, also in state loaded without them)."""
        return ()

    def _moment_keys_of(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self.moment_keys + self._optional_moment_keys(group)

    def _init_group(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        state_steps: list[Tensor],
        *moments: list[Tensor],
    ) -> None:
        """Append to the (empty) lists the group's parameters that have a gradient, their
        gradients, step counters and moments (one list per key of :meth:`_moment_keys_of`,
        in order), creating state where there is none.

        The lists-in, nothing-out signature is torch.optim's: ``torch.compile`` runs a method
        of this name eagerly instead of tracing it, and only in that form."""
        keys = self._moment_keys_of(group)
        optional_keys = keys[len(self.moment_keys) :]
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise RuntimeError(
                    f"{type(self).__name__} does not support sparse gradients "
                    f"(parameter of shape {tuple(p.shape)}){self.sparse_gradient_advice}"
                )
            state = self.state[p]
            if not state:
                state["step"] = torch.tensor(0.0, dtype=torch.float32)
                for key in self.moment_keys:
                    state[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
            for key in optional_keys:
                if key not in state:
                    state[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
            step = state["step"]
            if step.dtype != torch.float32 or not step.is_cpu:
                # A state dict from elsewhere (torch's fused or capturable optimizers keep it
                # on the parameter's device): our paths count steps in a float32 CPU tensor.
                step = state["step"] = step.to(dtype=torch.float32, device="cpu")
            params.append(p)
            grads.append(grad)
            state_steps.append(step)
            for key, column in zip(keys, moments, strict=True):
                column.append(state[key])

    @staticmethod
    def _hyperparameters(group: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments both functional updates take, read from a group."""
        beta1, beta2 = group["betas"]
        return {
            "beta1": beta1,
            "beta2": beta2,
            "lr": group["lr"],
            "weight_decay": group["weight_decay"],
            "eps": group["eps"],
            "maximize": group["maximize"],
            "decoupled_weight_decay": group["decoupled_weight_decay"],
            "bias_correction": group["bias_correction"],
            "fused": group["fused"],
        }

    @abc.abstractmethod
    def _update(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor],
        moments: dict[str, list[Tensor]],
        state_steps: list[Tensor],
    ) -> None:
        """One step of this optimizer's update over one group's lists, in place."""

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Perform one optimization step; ``closure`` re-evaluates the model and returns the
        loss (it runs with gradients enabled)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params: list[Tensor] = []
            grads: list[Tensor] = []
            state_steps: list[Tensor] = []
            keys = self._moment_keys_of(group)
            moments: list[list[Tensor]] = [[] for _ in keys]
            self._init_group(group, params, grads, state_steps, *moments)
            self._update(group, params, grads, dict(zip(keys, moments, strict=True)), state_steps)
        return loss
