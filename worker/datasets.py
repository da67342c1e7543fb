"""The data sets: MNIST, Fashion-MNIST (gzip IDX files), scikit-learn's digits, the linear toy
(and the playground's test problems, which have no examples).

``load_dataset(spec)`` returns whole splits as CPU tensors (images ``float32`` of shape
``(N, 1, H, W)`` scaled to [0, 1], labels ``int64``); the engine moves them to the device
and does its own batching, which is faster than a ``DataLoader`` for data that fits.

The IDX files live in ``settings.data_dir`` (``ADAMLAB_DATA_DIR``): ``mnist/`` and
``fashion-mnist/``, each with the four files under their original names. Every file is
md5-checked against the published checksum (``core/data_files.py``). Missing files are
downloaded from the canonical mirrors when the network allows; otherwise the error names
the folder and the files it expects.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from core.data_files import IDX_DATASETS, DatasetUnavailableError, ensure_files
from core.settings import settings
from core.spec import (
    DatasetVariant,
    DigitsDataset,
    LinearDataset,
    PlaygroundDataset,
    PublishedSplitsDataset,
    Task,
)

__all__ = ["Data", "DatasetUnavailableError", "Split", "load_dataset", "read_idx"]


@dataclass(frozen=True)
class Split:
    """Inputs and targets of one split, on the CPU."""

    inputs: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


@dataclass(frozen=True)
class Data:
    """The splits of a data set and what a model needs to know about it.

    ``task`` is ``"classification"`` (targets are class indices, ``num_outputs`` classes)
    or ``"regression"`` (targets are floats of shape ``(N,)``, one output).
    """

    train: Split
    test: Split | None
    validation: Split | None
    task: Task
    input_shape: tuple[int, ...]
    num_outputs: int


def load_dataset(spec: DatasetVariant, *, data_dir: Path | None = None) -> Data:
    """Load the splits that ``spec`` names (validation hold-out and limits applied)."""
    folder = Path(data_dir if data_dir is not None else settings.data_dir)
    train, test = SPLIT_LOADERS[spec.name](spec, folder)
    validation = None
    if isinstance(spec, PublishedSplitsDataset):
        train, test, validation = _hold_out_and_limit(spec, train, test)
    return Data(
        train=train,
        test=test,
        validation=validation,
        task=spec.task,
        input_shape=tuple(train.inputs.shape[1:]),
        num_outputs=spec.num_outputs,
    )


def _hold_out_and_limit(
    spec: PublishedSplitsDataset, train: Split, test: Split | None
) -> tuple[Split, Split | None, Split | None]:
    """The training split less its validation hold-out, the test split, and the hold-out,
    each cut to the spec's limits."""
    validation = None
    if spec.validation_size:
        cut = len(train) - spec.validation_size
        validation = Split(train.inputs[cut:], train.targets[cut:])
        train = Split(train.inputs[:cut], train.targets[:cut])
    if spec.train_limit is not None:
        train = Split(train.inputs[: spec.train_limit], train.targets[: spec.train_limit])
    if spec.test_limit is not None and test is not None:
        test = Split(test.inputs[: spec.test_limit], test.targets[: spec.test_limit])
    return train, test, validation


def _linear(spec: LinearDataset, data_dir: Path) -> tuple[Split, None]:
    """y = 2x + 1 + N(0, noise_std²) at ``num_points`` evenly spaced x in [−5, 5]."""
    x = torch.linspace(-5.0, 5.0, spec.num_points, dtype=torch.float32)
    noise_generator = torch.Generator().manual_seed(spec.data_seed)
    noise = torch.randn(spec.num_points, generator=noise_generator) * spec.noise_std
    y = 2.0 * x + 1.0 + noise
    return Split(x.unsqueeze(1), y), None


def _digits(spec: DigitsDataset, data_dir: Path) -> tuple[Split, Split]:
    """scikit-learn's 8×8 digits, first 898 train / last 899 test (``test_size=0.5``,
    ``shuffle=False``, as in scikit-learn's own classification example)."""
    from sklearn.datasets import load_digits
    from sklearn.utils import Bunch

    # load_digits() gives a Bunch unless asked for arrays; its signature says either.
    bunch = cast(Bunch, load_digits())
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    n_test = math.ceil(0.5 * len(labels))
    cut = len(labels) - n_test
    return Split(images[:cut], labels[:cut]), Split(images[cut:], labels[cut:])


def _idx_splits(spec: PublishedSplitsDataset, data_dir: Path) -> tuple[Split, Split]:
    """The published splits of an IDX data set, read from ``data_dir``."""
    idx = IDX_DATASETS[spec.name]
    folder = data_dir / idx.folder
    ensure_files(idx, folder)
    images_train, labels_train, images_test, labels_test = (
        _read_idx_cached(str(folder / file), md5) for file, md5 in idx.files.items()
    )
    return (
        Split(_images_to_tensor(images_train), torch.from_numpy(labels_train.astype(np.int64))),
        Split(_images_to_tensor(images_test), torch.from_numpy(labels_test.astype(np.int64))),
    )


def _images_to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)


def _no_examples(spec: PlaygroundDataset, data_dir: Path) -> tuple[Split, None]:
    """A test problem has no examples, only a formula (``worker/playground.py`` minimises
    it): an empty split whose inputs have the position's shape."""
    return Split(torch.empty(0, *spec.input_shape), torch.empty(0)), None


SplitLoader = Callable[[Any, Path], tuple[Split, Split | None]]
"""Reads one data set variant's (train, test) splits (its first argument, typed by each)."""

SPLIT_LOADERS: dict[str, SplitLoader] = {
    "mnist": _idx_splits,
    "fashion_mnist": _idx_splits,
    "digits": _digits,
    "linear": _linear,
    "function": _no_examples,
    "reddi": _no_examples,
}
"""The loader of each data set variant, by the variant's ``name``."""


@lru_cache(maxsize=8)
def _read_idx_cached(path: str, md5: str) -> np.ndarray:
    """Parse a gzip IDX file (cached per process: the arrays are read-only)."""
    del md5  # part of the cache key only: a replaced file with another md5 is re-read
    array = read_idx(Path(path))
    array.setflags(write=False)
    return array


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzip IDX file: magic (0, 0, type 0x08 = ubyte, ndim), ndim big-endian
    uint32 sizes, then the data."""
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetUnavailableError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    if len(raw) - offset != math.prod(shape):
        raise DatasetUnavailableError(f"{path}: {len(raw) - offset} bytes of data, shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)
