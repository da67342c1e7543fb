"""`adamlab datasets` (present, missing, corrupt; download from a mirror) and the data line
`adamlab serve` prints at start-up."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from adamlab.cli import main
from adamlab.commands.serve import _data_banner  # pyright: ignore[reportPrivateUsage]
from core import data_files
from core.settings import settings
from tests.support.mirror import serving_folder

SHARED = Path(settings.data_dir)


def test_datasets_lists_every_data_set_present(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--data-dir", str(SHARED)]) == 0
    out = capsys.readouterr().out
    assert f"data folder: {SHARED.resolve()}" in out
    assert f"mnist: present in {SHARED.resolve() / 'mnist'}" in out
    assert "fashion_mnist: present" in out
    assert "digits: no files needed" in out and "linear: no files needed" in out


def test_datasets_names_missing_and_corrupt_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(SHARED / "mnist", tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"truncated")
    assert main(["datasets", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "mnist: CORRUPT" in out and "t10k-labels-idx1-ubyte.gz" in out
    assert f"fashion_mnist: MISSING in {tmp_path.resolve() / 'fashion-mnist'}" in out
    assert "ADAMLAB_DATA_DIR" in out


def test_datasets_download_fetches_the_missing_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(SHARED / "mnist", mirror)
    data = tmp_path / "data"
    shutil.copytree(SHARED / "fashion-mnist", data / "fashion-mnist")
    with serving_folder(mirror) as url:
        served = replace(data_files.IDX_DATASETS["mnist"], mirrors=("http://127.0.0.1:9/", url))
        monkeypatch.setitem(data_files.IDX_DATASETS, "mnist", served)
        assert main(["datasets", "--data-dir", str(data), "--download"]) == 0
    out = capsys.readouterr().out
    assert "mnist: downloading train-images-idx3-ubyte.gz" in out
    assert "mnist: present" in out
    for file, md5 in served.files.items():
        assert data_files.file_md5(data / "mnist" / file) == md5


def test_serve_banner_says_where_data_is_read_from(tmp_path: Path) -> None:
    assert _data_banner(SHARED) == (
        f"adamlab: data sets read from {SHARED.resolve()}: mnist present, fashion_mnist present, "
        "digits bundled, linear bundled"
    )
    empty = _data_banner(tmp_path)
    assert "mnist missing" in empty and "`adamlab datasets`" in empty
