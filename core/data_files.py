"""The data sets' files on disk: which are present, missing or corrupt, and fetching the
missing ones. Torch-free, so `adamlab serve` and `adamlab datasets` can say where data is
read from without loading the engine; the loaders (``worker/datasets.py``) call
``ensure_files`` before they read.

Every IDX file is checked against its published md5 (``core.spec.IdxFiles``); a missing
one is fetched from the data set's mirrors in order, written atomically, and refused when
its md5 differs.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from core.spec import (
    DATASET_VARIANTS,
    IdxFiles,
    PlaygroundDataset,
    PublishedSplitsDataset,
    variant_name,
)

DOWNLOAD_TIMEOUT_S = 30.0

IDX_DATASETS: dict[str, IdxFiles] = {
    variant_name(variant): variant.idx_files
    for variant in DATASET_VARIANTS
    if issubclass(variant, PublishedSplitsDataset) and variant.idx_files is not None
}
"""The files of each IDX data set, by name, as its spec class states them (one table that
the loader reads at each call, so a test can point a data set at other mirrors)."""

FilesState = Literal["present", "missing", "corrupt", "bundled"]


class DatasetUnavailableError(RuntimeError):
    """The data set's files are missing (and could not be downloaded) or corrupt."""


@dataclass(frozen=True)
class DatasetFiles:
    """What the data folder holds of one data set. ``state``: ``present`` (every file,
    each with its md5), ``missing`` (some file absent), ``corrupt`` (a file with another
    md5), ``bundled`` (no files: it ships with a package or is generated)."""

    name: str
    state: FilesState
    folder: Path | None = None
    missing: list[str] = field(default_factory=list[str])
    corrupt: list[str] = field(default_factory=list[str])

    def describe(self) -> str:
        if self.state == "bundled":
            return f"{self.name}: no files needed (bundled with a package or generated)"
        if self.state == "present":
            return f"{self.name}: present in {self.folder}"
        if self.state == "missing":
            return f"{self.name}: MISSING in {self.folder}: {', '.join(self.missing)}"
        return f"{self.name}: CORRUPT in {self.folder} (md5 differs): {', '.join(self.corrupt)}"


def inspect_datasets(data_dir: Path) -> list[DatasetFiles]:
    """The state of every data set variant's files under ``data_dir`` (md5 of each file);
    the playground's test problems, formulas without files, are not among them."""
    found: list[DatasetFiles] = []
    for variant in DATASET_VARIANTS:
        if issubclass(variant, PlaygroundDataset):
            continue
        name = variant_name(variant)
        idx = IDX_DATASETS.get(name)
        if idx is None:
            found.append(DatasetFiles(name=name, state="bundled"))
            continue
        folder = data_dir / idx.folder
        missing = [file for file in idx.files if not (folder / file).is_file()]
        corrupt = [
            file
            for file, md5 in idx.files.items()
            if file not in missing and file_md5(folder / file) != md5
        ]
        state: FilesState = "missing" if missing else "corrupt" if corrupt else "present"
        found.append(
            DatasetFiles(name=name, state=state, folder=folder, missing=missing, corrupt=corrupt)
        )
    return found


def ensure_files(idx: IdxFiles, folder: Path) -> None:
    """Make sure every file of ``idx`` is in ``folder`` with its md5, downloading the
    missing ones; raise ``DatasetUnavailableError`` naming the folder and files if not."""
    missing = [file for file in idx.files if not (folder / file).is_file()]
    if missing:
        failures = download(idx, folder, missing)
        if failures:
            expected = ", ".join(idx.files)
            raise DatasetUnavailableError(
                f"data set files missing in {folder}: {', '.join(missing)} (the folder must "
                f"hold {expected}; set ADAMLAB_DATA_DIR to the directory containing "
                f"{idx.folder}/). Download failed: {'; '.join(failures)}"
            )
    for file, md5 in idx.files.items():
        actual = file_md5(folder / file)
        if actual != md5:
            raise DatasetUnavailableError(
                f"{folder / file} is corrupt: md5 {actual}, expected {md5}; delete it to "
                "download it again"
            )


def download(idx: IdxFiles, folder: Path, files: list[str]) -> list[str]:
    """Fetch ``files`` into ``folder``; return why the first one that could not be had
    failed (empty when all arrived)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [f"cannot create {folder}: {exc}"]
    for file in files:
        reasons: list[str] = []
        for mirror in idx.mirrors:
            try:
                _fetch(mirror + file, folder / file, idx.files[file])
                break
            except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
                reasons.append(f"{mirror}{file}: {exc}")
        else:
            # No mirror served this file: report it and do not wait on the others.
            return [" / ".join(reasons)]
    return []


def _fetch(url: str, destination: Path, md5: str) -> None:
    """Download ``url`` to ``destination`` atomically, refusing a wrong md5."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310
        payload: bytes = response.read()
    actual = hashlib.md5(payload).hexdigest()
    if actual != md5:
        raise ValueError(f"md5 {actual}, expected {md5}")
    handle, temporary = tempfile.mkstemp(dir=destination.parent, suffix=".part")
    with os.fdopen(handle, "wb") as out:
        out.write(payload)
    os.replace(temporary, destination)


def file_md5(path: Path) -> str:
    """The md5 of the file's bytes. Hashed once per process for a file as it is on disk:
    the loader's check, ``adamlab datasets`` and each run's reproducibility record ask for
    the same files, and a file that is replaced or changes (another size or mtime) is
    hashed again."""
    stat = path.stat()
    return _md5_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _md5_of(path: str, size: int, mtime_ns: int) -> str:
    del size, mtime_ns  # the cache key only: a changed file is hashed again
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
