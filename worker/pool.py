"""The worker's pool processes: one GPU each, and ready before their first job.

``enable_one_gpu_per_process`` runs in the worker's main process before the pool starts;
``_prepare_pool_process`` runs in each pool child as it starts (Celery's
``worker_process_init`` signal, connected when this module is imported).
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys

import billiard.process
from celery.signals import worker_process_init

from core.settings import settings
from worker.shutdown import install_in_pool_process

_PR_SET_PDEATHSIG = 1
_gpu_ids: list[str] = []
"""The GPUs the pool children share out, one each; empty for a CPU worker."""


def enable_one_gpu_per_process() -> int:
    """Make pool child i see only the i-th visible GPU (CUDA_VISIBLE_DEVICES, set before it
    initialises CUDA), so that a worker with one child per GPU runs one job per GPU.
    Call in the worker's main process before the pool starts; returns the GPU count."""
    import torch

    count = torch.cuda.device_count()  # through NVML: no CUDA context in the parent
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [item.strip() for item in visible.split(",")] if visible else []
    _gpu_ids[:] = (ids or [str(index) for index in range(count)])[:count]
    return count


@worker_process_init.connect
def _prepare_pool_process(**_: object) -> None:
    """In each pool child: die with the worker's main process, hand its job back on
    SIGTERM (``worker/shutdown.py``), take its own GPU, and load the engine now so that
    the first job starts as fast as the next."""
    if sys.platform == "linux":
        # A child outliving a killed main process would keep training a job whose message
        # it can no longer acknowledge; the reaper recovers the job instead.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    install_in_pool_process()
    if _gpu_ids:
        index = billiard.process.current_process().index  # set on pool children  # pyright: ignore[reportAttributeAccessIssue]
        os.environ["CUDA_VISIBLE_DEVICES"] = _gpu_ids[index % len(_gpu_ids)]
    import torch

    import worker.engine  # noqa: F401

    if settings.torch_threads is not None:
        torch.set_num_threads(settings.torch_threads)
    gc.freeze()  # torch's and the engine's objects: out of the collector's full passes
