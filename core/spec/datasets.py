"""The data sets a spec may name, each with the facts about it that the rest of the code
reads: its task, its number of outputs, its published split sizes and, for the IDX data
sets, its files. Adding a data set is a class here (and its loader in ``worker/datasets.py``).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from core.spec.fields import BatchSize, SpecPart, Task

ValidationSize = Annotated[
    int,
    Field(
        ge=0,
        description="Number of examples held out from the END of the published training "
        "split as a validation set (the same examples whatever the seed); default 0, none.",
    ),
]
TrainLimit = Annotated[
    int | None,
    Field(
        ge=1,
        description="Use only the first N examples of the training split (after the "
        "validation hold-out), for quick runs; default null, all of them.",
    ),
]
TestLimit = Annotated[
    int | None,
    Field(
        ge=1,
        description="Evaluate on only the first N examples of the test split; "
        "default null, all of them.",
    ),
]


@dataclass(frozen=True)
class IdxFiles:
    """Where an IDX data set lives: its folder under the data directory, its four files
    (train images, train labels, test images, test labels) with their md5 sums, and the
    mirrors to fetch them from (tried in order)."""

    folder: str
    files: dict[str, str]
    mirrors: tuple[str, ...]


class PublishedSplitsDataset(SpecPart):
    """A classification data set with a fixed train and test split, from which a spec may
    hold out a validation set and take fewer examples."""

    task: ClassVar[Task] = "classification"
    num_outputs: ClassVar[int] = 10
    input_shape: ClassVar[tuple[int, ...]]
    """Shape of one example's input as the loader gives it: (channels, height, width)."""
    train_size: ClassVar[int]
    """Examples in the published training split."""
    test_size: ClassVar[int]
    """Examples in the published test split."""
    idx_files: ClassVar[IdxFiles | None] = None
    """The IDX files it is read from; None for a data set that ships with a package."""

    name: str
    batch_size: BatchSize
    validation_size: ValidationSize = 0
    train_limit: TrainLimit = None
    test_limit: TestLimit = None

    def train_examples(self) -> int:
        """Examples the run trains on: the training split less the hold-out, limited."""
        available = self.train_size - self.validation_size
        return min(self.train_limit or available, available)

    def split_problem(self) -> str | None:
        """Why the spec's hold-out cannot be taken, or None when it can."""
        if self.validation_size >= self.train_size:
            return (
                f"dataset.validation_size {self.validation_size} leaves no training examples "
                f"(the training split has {self.train_size})"
            )
        return None


class MnistDataset(PublishedSplitsDataset):
    """MNIST handwritten digits: 60,000 training and 10,000 test 28×28 images, 10 classes.

    Read from the gzip IDX files in ``ADAMLAB_DATA_DIR/mnist``; pixels scaled to [0, 1].
    """

    input_shape: ClassVar[tuple[int, ...]] = (1, 28, 28)
    train_size: ClassVar[int] = 60_000
    test_size: ClassVar[int] = 10_000
    idx_files: ClassVar[IdxFiles | None] = IdxFiles(
        folder="mnist",
        files={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        # torchvision's mirror first: yann.lecun.com often refuses plain downloads.
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    )

    name: Literal["mnist"]  # frozen model: narrowing is safe  # pyright: ignore[reportIncompatibleVariableOverride]
    batch_size: BatchSize = Field(128, description="Mini-batch size; default 128 (the study's).")


class FashionMnistDataset(PublishedSplitsDataset):
    """Fashion-MNIST (Zalando): same shapes and splits as MNIST, clothing classes.

    Read from the gzip IDX files in ``ADAMLAB_DATA_DIR/fashion-mnist``; pixels in [0, 1].
    """

    input_shape: ClassVar[tuple[int, ...]] = (1, 28, 28)
    train_size: ClassVar[int] = 60_000
    test_size: ClassVar[int] = 10_000
    idx_files: ClassVar[IdxFiles | None] = IdxFiles(
        folder="fashion-mnist",
        files={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    )

    name: Literal["fashion_mnist"]  # frozen model: narrowing is safe  # pyright: ignore[reportIncompatibleVariableOverride]
    batch_size: BatchSize = Field(128, description="Mini-batch size; default 128.")


class DigitsDataset(PublishedSplitsDataset):
    """scikit-learn's bundled 8×8 digits (1,797 images, 10 classes), no download.

    It has no published split; the first 898 images train and the last 899 test, the split
    of scikit-learn's own digits-classification example (``test_size=0.5, shuffle=False``).
    Pixels (0..16) are scaled to [0, 1].
    """

    input_shape: ClassVar[tuple[int, ...]] = (1, 8, 8)
    train_size: ClassVar[int] = 898
    test_size: ClassVar[int] = 899

    name: Literal["digits"]  # frozen model: narrowing is safe  # pyright: ignore[reportIncompatibleVariableOverride]
    batch_size: BatchSize = Field(64, description="Mini-batch size; default 64.")


class LinearDataset(SpecPart):
    """The tutorial's regression data: y = 2x + 1 + ε, ε ~ N(0, noise_std²).

    ``num_points`` x values evenly spaced on [−5, 5]; the noise is drawn from ``data_seed``
    (not the run's seed, so runs with different seeds fit the same points). It has no
    test split: the fit is reported as training MSE and the learned w and b.
    """

    task: ClassVar[Task] = "regression"
    num_outputs: ClassVar[int] = 1
    input_shape: ClassVar[tuple[int, ...]] = (1,)
    """One input, x."""

    name: Literal["linear"]
    batch_size: BatchSize = Field(
        100, description="Mini-batch size; default 100, the whole data set (full-batch)."
    )
    num_points: int = Field(100, ge=2, le=1_000_000, description="Default 100.")
    noise_std: float = Field(1.0, ge=0.0, le=1e3, description="Default 1.0.")
    data_seed: int = Field(0, ge=0, lt=2**63, description="Seed of the noise; default 0.")

    def train_examples(self) -> int:
        """Examples the run trains on: every point."""
        return self.num_points

    def split_problem(self) -> str | None:
        """Never a problem: there is no hold-out to take."""
        return None


DatasetVariant = MnistDataset | FashionMnistDataset | DigitsDataset | LinearDataset
DatasetSpec = Annotated[DatasetVariant, Field(discriminator="name")]
DATASET_VARIANTS: tuple[type[DatasetVariant], ...] = typing.get_args(DatasetVariant)
