"""Data sets: shapes, published splits, validation hold-out, checksums, missing files."""

from __future__ import annotations

import gzip
import shutil
import struct
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core import data_files
from core.settings import settings
from core.spec import DigitsDataset, FashionMnistDataset, LinearDataset, MnistDataset
from tests.support.mirror import serving_folder
from worker.datasets import DatasetUnavailableError, load_dataset, read_idx


def test_mnist_has_the_published_splits() -> None:
    data = load_dataset(MnistDataset(name="mnist"))
    assert data.train.inputs.shape == (60_000, 1, 28, 28)
    assert data.test.inputs.shape == (10_000, 1, 28, 28)
    assert data.train.inputs.dtype == torch.float32
    assert float(data.train.inputs.min()) == 0.0 and float(data.train.inputs.max()) == 1.0
    assert data.train.targets.dtype == torch.int64
    # The published label counts of the MNIST training split (class 0 and class 1).
    counts = torch.bincount(data.train.targets, minlength=10).tolist()
    assert counts[0] == 5923 and counts[1] == 6742
    assert (data.task, data.input_shape, data.num_outputs) == ("classification", (1, 28, 28), 10)
    assert data.validation is None


def test_fashion_mnist_loads_from_its_own_folder() -> None:
    data = load_dataset(FashionMnistDataset(name="fashion_mnist", test_limit=100))
    assert data.train.inputs.shape == (60_000, 1, 28, 28)
    assert len(data.test) == 100
    assert torch.bincount(data.train.targets).tolist() == [6000] * 10


def test_validation_split_is_the_end_of_the_training_split() -> None:
    full = load_dataset(MnistDataset(name="mnist"))
    held = load_dataset(MnistDataset(name="mnist", validation_size=10_000, train_limit=500))
    assert len(held.train) == 500 and len(held.validation) == 10_000
    assert torch.equal(held.validation.inputs, full.train.inputs[50_000:])
    assert torch.equal(held.train.targets, full.train.targets[:500])
    assert len(held.test) == 10_000


def test_digits_split_is_scikit_learns_first_and_second_half() -> None:
    data = load_dataset(DigitsDataset(name="digits"))
    assert len(data.train) == 898 and len(data.test) == 899
    assert data.input_shape == (1, 8, 8)
    assert float(data.train.inputs.max()) == 1.0


def test_linear_data_is_2x_plus_1_plus_unit_noise() -> None:
    data = load_dataset(LinearDataset(name="linear"))
    x, y = data.train.inputs[:, 0], data.train.targets
    assert x.shape == (100,) and float(x[0]) == -5.0 and float(x[-1]) == 5.0
    residual = y - (2 * x + 1)
    assert abs(float(residual.mean())) < 0.3 and 0.7 < float(residual.std()) < 1.3
    assert data.test is None and data.task == "regression"
    again = load_dataset(LinearDataset(name="linear"))
    assert torch.equal(again.train.targets, y)
    other = load_dataset(LinearDataset(name="linear", data_seed=1))
    assert not torch.equal(other.train.targets, y)


def test_missing_files_without_network_name_the_folder_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unreachable = replace(data_files.IDX_DATASETS["mnist"], mirrors=("http://127.0.0.1:9/",))
    monkeypatch.setitem(data_files.IDX_DATASETS, "mnist", unreachable)
    with pytest.raises(DatasetUnavailableError) as caught:
        load_dataset(MnistDataset(name="mnist"), data_dir=tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "mnist") in message
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "ADAMLAB_DATA_DIR" in message


def test_corrupt_file_is_refused_with_its_md5(tmp_path: Path) -> None:
    source = Path(settings.data_dir) / "mnist"
    shutil.copytree(source, tmp_path / "mnist")
    target = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    target.chmod(0o644)
    payload = bytearray(target.read_bytes())
    payload[100] ^= 0xFF
    target.write_bytes(bytes(payload))
    with pytest.raises(DatasetUnavailableError, match="t10k-labels-idx1-ubyte.gz is corrupt"):
        load_dataset(MnistDataset(name="mnist"), data_dir=tmp_path)


def test_read_idx_parses_header_and_data(tmp_path: Path) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(path, "wb") as out:
        out.write(bytes([0, 0, 0x08, 3]) + struct.pack(">III", 2, 3, 4) + array.tobytes())
    assert np.array_equal(read_idx(path), array)
    with gzip.open(path, "wb") as out:
        out.write(bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 1) + b"\0\0\0\0")
    with pytest.raises(DatasetUnavailableError, match="not an unsigned-byte IDX"):
        read_idx(path)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A local mirror: the folder it serves and its URL."""
    root = tmp_path / "mirror"
    root.mkdir()
    with serving_folder(root) as url:
        yield root, url


def test_missing_file_is_downloaded_and_checked(
    tmp_path: Path, mirror: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, url = mirror
    source = Path(settings.data_dir) / "mnist"
    shutil.copytree(source, tmp_path / "data" / "mnist")
    missing = tmp_path / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    missing.unlink()
    shutil.copy(source / missing.name, root / missing.name)
    served = replace(data_files.IDX_DATASETS["mnist"], mirrors=("http://127.0.0.1:9/", url))
    monkeypatch.setitem(data_files.IDX_DATASETS, "mnist", served)

    data = load_dataset(MnistDataset(name="mnist", test_limit=10), data_dir=tmp_path / "data")
    assert missing.is_file() and len(data.test) == 10
    assert data_files.file_md5(missing) == served.files[missing.name]


def test_download_with_a_wrong_checksum_is_refused(
    tmp_path: Path, mirror: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, url = mirror
    shutil.copytree(Path(settings.data_dir) / "mnist", tmp_path / "data" / "mnist")
    missing = tmp_path / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    missing.unlink()
    (root / missing.name).write_bytes(b"not the labels")
    served = replace(data_files.IDX_DATASETS["mnist"], mirrors=(url,))
    monkeypatch.setitem(data_files.IDX_DATASETS, "mnist", served)

    with pytest.raises(DatasetUnavailableError, match="md5"):
        load_dataset(MnistDataset(name="mnist"), data_dir=tmp_path / "data")
    assert not missing.exists()
    assert not list(missing.parent.glob("*.part"))
