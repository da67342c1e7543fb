"""Fill in a run's reproducibility record (``core.run_environment.RunEnvironment``) from
the process the run is in: versions, the git commit of the source, the device and its
name, threads, determinism flags, and the md5 of each data file it reads."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch

import optim
from core.data_files import IDX_DATASETS, file_md5
from core.run_environment import Determinism, RunEnvironment
from core.spec import ExperimentSpec, LinearDataset, PlaygroundDataset

SOURCE_ROOT = Path(__file__).resolve().parent.parent
GIT_TIMEOUT_S = 5.0


def describe_environment(
    spec: ExperimentSpec, *, device: torch.device, data_dir: Path
) -> RunEnvironment:
    commit, dirty = _git_state()
    cuda = device.type == "cuda"
    return RunEnvironment(
        adamlab_version=_adamlab_version(),
        git_commit=commit,
        git_dirty=dirty,
        python_version=platform.python_version(),
        torch_version=torch.__version__,
        numpy_version=np.__version__,
        platform=platform.platform(),
        device=str(device),
        device_name=torch.cuda.get_device_name(device) if cuda else _cpu_model(),
        cuda_version=torch.version.cuda,  # pyright: ignore[reportAttributeAccessIssue]
        cudnn_version=torch.backends.cudnn.version()
        if torch.backends.cudnn.is_available()
        else None,
        torch_threads=torch.get_num_threads(),
        torch_interop_threads=torch.get_num_interop_threads(),
        optimizer_kernels=optim.cpu_kernels_status(),
        determinism=Determinism(
            seed=spec.seed,
            data_order=(
                "none: a test problem; its gradient noise drawn from the seed"
                if isinstance(spec.dataset, PlaygroundDataset)
                else "a permutation per epoch, seeded by (seed, epoch)"
            ),
            data_seed=spec.dataset.data_seed if isinstance(spec.dataset, LinearDataset) else None,
            deterministic_algorithms=torch.are_deterministic_algorithms_enabled(),
            cudnn_deterministic=torch.backends.cudnn.deterministic if cuda else None,
            cudnn_benchmark=torch.backends.cudnn.benchmark if cuda else None,
        ),
        data_files=_data_files(spec, data_dir),
    )


def _data_files(spec: ExperimentSpec, data_dir: Path) -> dict[str, str]:
    idx = IDX_DATASETS.get(spec.dataset.name)
    if idx is not None:
        folder = data_dir / idx.folder
        return {
            f"{idx.folder}/{file}": file_md5(folder / file)
            if (folder / file).is_file()
            else "missing"
            for file in idx.files
        }
    if isinstance(spec.dataset, PlaygroundDataset):
        return {spec.dataset.name: "a formula (core/problems.py), no files"}
    if spec.dataset.name == "digits":
        return {"digits": f"scikit-learn {importlib.metadata.version('scikit-learn')} (bundled)"}
    return {spec.dataset.name: "generated from data_seed"}


@functools.cache
def _adamlab_version() -> str:
    try:
        return importlib.metadata.version("adamlab")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


@functools.cache
def _git_state() -> tuple[str | None, bool | None]:
    """The commit of the checkout the code runs from and whether it has changes; (None,
    None) when it is not a git checkout or git is missing."""
    if not (SOURCE_ROOT / ".git").exists():
        return None, None
    try:
        commit = subprocess.run(
            ["git", "-C", str(SOURCE_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(SOURCE_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(changes)


@functools.cache
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
