"""The data sets a spec may name, each with the facts about it that the rest of the code
reads: its task, its number of outputs, its published split sizes and, for the IDX data
sets, its files. Adding a data set is a class here (and its loader in ``worker/datasets.py``).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from core.spec.fields import BatchSize, SpecPart, Task

StartCoordinate = Annotated[float, Field(ge=-1e3, le=1e3)]
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


class PlaygroundDataset(SpecPart):
    """A test problem of the optimizer playground (``core/problems.py``): no examples,
    an objective given by a formula, minimised over the position of a ``point`` model from
    ``start``. Each iteration evaluates the gradient once at the current position; an
    epoch is ``steps_per_epoch`` iterations, counted as that many examples (so the cost
    estimate, the comparisons' pace and the sweeps read it as a data set of
    ``steps_per_epoch`` examples in batches of one)."""

    task: ClassVar[Task] = "minimization"
    num_outputs: ClassVar[int] = 1
    input_shape: ClassVar[tuple[int, ...]]
    """(d,): the position's dimension."""
    batch_size: ClassVar[int] = 1
    """One gradient evaluation per iteration."""

    name: str
    steps_per_epoch: int = Field(
        100,
        ge=1,
        le=100_000,
        description="Iterations per epoch (the unit of checkpoints and per-epoch metrics); "
        "default 100.",
    )

    def train_examples(self) -> int:
        """The iterations of an epoch, one gradient evaluation each."""
        return self.steps_per_epoch

    def split_problem(self) -> str | None:
        """Never a problem: there is no hold-out to take."""
        return None


class FunctionDataset(PlaygroundDataset):
    """A 2-D test function minimised from ``start`` (``core/problems.py`` states each
    formula, minimum and default start): rosenbrock, beale, himmelblau, saddle, or canyon,
    the quadratic (x² + κ·y²)/2 whose curvature across (y) is ``curvature_ratio`` κ times
    that along its floor (x). With ``noise`` σ > 0 the objective is stochastic: each
    gradient the optimizer sees is ∇f + σ·ξ, ξ ~ N(0, I) drawn from the run's seed."""

    input_shape: ClassVar[tuple[int, ...]] = (2,)

    name: Literal["function"]  # frozen model: narrowing is safe  # pyright: ignore[reportIncompatibleVariableOverride]
    function: Literal["rosenbrock", "beale", "himmelblau", "saddle", "canyon"] = Field(
        "rosenbrock", description="The test function; default rosenbrock."
    )
    start: tuple[StartCoordinate, StartCoordinate] | None = Field(
        None,
        strict=False,
        description="[x, y] where the run starts; default null, the function's own "
        "(rosenbrock [-1.5, 2], beale [1, 1.5], himmelblau [0, 0], saddle [2, 0.001], "
        "canyon [-8, 1]).",
    )
    noise: float = Field(
        0.0, ge=0.0, le=1e3, description="σ of the Gaussian noise added to each gradient "
        "coordinate; default 0.0, the exact gradient.",
    )  # fmt: skip
    curvature_ratio: float | None = Field(
        None,
        ge=1.0,
        le=1e6,
        description="canyon only: κ, the ratio of the curvatures across and along the "
        "canyon; default null, 100.",
    )

    @field_validator("curvature_ratio")
    @classmethod
    def _curvature_ratio_of_canyon_only(
        cls, value: float | None, info: ValidationInfo
    ) -> float | None:
        function = info.data.get("function")
        if value is not None and function != "canyon":
            raise ValueError(f"curvature_ratio applies to function 'canyon' only, not {function!r}")
        return value


class ReddiDataset(PlaygroundDataset):
    """Reddi, Kale & Kumar (2018)'s online counterexample to Adam's convergence: at step t
    the loss is f_t(x) = 1010·x when t mod 101 = 1, else −10·x, and x is projected onto
    [−1, 1] after every step. The average loss 10x/101 is minimised at x = −1; Adam drifts
    to +1 while AMSGrad finds −1."""

    input_shape: ClassVar[tuple[int, ...]] = (1,)

    name: Literal["reddi"]  # frozen model: narrowing is safe  # pyright: ignore[reportIncompatibleVariableOverride]
    start: tuple[Annotated[float, Field(ge=-1.0, le=1.0)]] | None = Field(
        None, strict=False, description="[x] where the run starts, in [-1, 1]; default [0]."
    )
    steps_per_epoch: int = Field(
        101,
        ge=1,
        le=100_000,
        description="Iterations per epoch; default 101, one period of the losses.",
    )


DatasetVariant = (
    MnistDataset
    | FashionMnistDataset
    | DigitsDataset
    | LinearDataset
    | FunctionDataset
    | ReddiDataset
)
DatasetSpec = Annotated[DatasetVariant, Field(discriminator="name")]
DATASET_VARIANTS: tuple[type[DatasetVariant], ...] = typing.get_args(DatasetVariant)
