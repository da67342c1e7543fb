"""adamlab's own Adam, AdaMax and AdamW (torch only).

``from optim import Adam, AdaMax, AdamW`` gives ``torch.optim.Optimizer`` subclasses that
compute what ``torch.optim.Adam`` / ``torch.optim.Adamax`` / ``torch.optim.AdamW`` compute,
share their state-dict format, and add ``bias_correction`` and a faster step
(see :mod:`optim.functional`).
"""

from optim import _cpu_kernel
from optim.adam import Adam, AdamW
from optim.adamax import AdaMax, Adamax

__all__ = ["AdaMax", "Adam", "AdamW", "Adamax", "cpu_kernels_status"]


def cpu_kernels_status() -> str:
    """``"C extension"`` when the CPU kernels are built, else why the plain path runs."""
    reason = _cpu_kernel.unavailable_reason()
    return "C extension" if reason is None else f"plain path: {reason}"
