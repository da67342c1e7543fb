"""Which implementation updates which parameters: the parameters of a group are split into
buckets, one per (path, device, dtype), each updated by one call of that path's backend.

``fused=None`` picks per tensor: the C kernel for dense float32/float64 CPU tensors when the
extension is built, the compiled update for CUDA tensors, and the plain path otherwise;
``fused=False`` (and any step being traced by ``torch.compile``) takes the plain path for
all; ``fused=True`` raises where no fast path applies.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from optim import _cpu_kernel


class Path(enum.Enum):
    PLAIN = "plain"
    CPU_KERNEL = "cpu_kernel"
    COMPILED = "compiled"


@dataclass(frozen=True)
class Backend:
    """One implementation of both updates, called with the arguments of
    :func:`optim.functional.adam` / :func:`optim.functional.adamax` less ``fused``; the fast
    ones take ``lr`` as a Python float."""

    adam: Callable[..., None]
    adamax: Callable[..., None]
    lr_as_float: bool


@dataclass(frozen=True)
class Bucket:
    """Parameters that one path updates in one call: their indices in the group's lists
    (``None``: all of them), and the device and dtype they share on a fast path."""

    path: Path
    indices: list[int] | None = None
    device: torch.device | None = None
    dtype: torch.dtype | None = None

    def take(self, column: list[Tensor]) -> list[Tensor]:
        """This bucket's entries of ``column``; the fast paths see complex tensors as real."""
        if self.indices is None:  # the whole list: plain, or tensors that passed supports_lists
            return column
        if self.path is Path.PLAIN:
            return [column[i] for i in self.indices]
        return [_real(column[i]) for i in self.indices]


def _real(tensor: Tensor) -> Tensor:
    return torch.view_as_real(tensor) if tensor.is_complex() else tensor


def _choose_path(row: tuple[Tensor, ...], fused: bool | None, cpu_kernel_ready: bool) -> Path:
    """The path for one parameter (``row[0]``) with its gradient and state, all already
    viewed as real."""
    param = row[0]
    device_type = param.device.type
    if device_type == "cpu":
        if cpu_kernel_ready and _cpu_kernel.supports(row):
            return Path.CPU_KERNEL
    elif device_type == "cuda" and all(
        t.device == param.device and t.dtype == param.dtype for t in row
    ):
        return Path.COMPILED
    if fused:
        reason = _cpu_kernel.unavailable_reason() if device_type == "cpu" else None
        raise RuntimeError(
            "fused=True but no fast path handles a parameter with "
            f"dtype={param.dtype}, device={param.device}, shape={tuple(param.shape)}, "
            f"contiguous={param.is_contiguous()}"
            + (f" ({reason})" if reason else "")
            + "; the fast paths take dense float32/float64 CPU tensors and CUDA tensors. "
            "Pass fused=None to fall back to the plain path."
        )
    return Path.PLAIN


def partition(columns: list[list[Tensor]], fused: bool | None) -> list[Bucket]:
    """The buckets of parallel lists (params first, then gradients and state)."""
    if not columns[0]:
        return []
    if fused is False or torch.compiler.is_compiling():
        return [Bucket(Path.PLAIN)]
    cpu_kernel_ready = _cpu_kernel.available()
    if cpu_kernel_ready and _cpu_kernel.supports_lists(columns):
        return [Bucket(Path.CPU_KERNEL)]  # the common case, without a look at each row
    indices: dict[tuple[Path, torch.device | None, torch.dtype | None], list[int]] = {}
    for i, row in enumerate(zip(*columns, strict=True)):
        if row[0].is_complex():
            row = tuple(_real(t) for t in row)
        path = _choose_path(row, fused, cpu_kernel_ready)
        key = (path, None, None) if path is Path.PLAIN else (path, row[0].device, row[0].dtype)
        indices.setdefault(key, []).append(i)
    return [
        Bucket(path, members, device, dtype) for (path, device, dtype), members in indices.items()
    ]
