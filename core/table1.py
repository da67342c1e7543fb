"""The study's Table 1, as specs: test accuracy on MNIST of LR, NN and CNN with Adam and
AdaMax. Torch-free, so that both the engine (``worker/reproduce.py``, local runs) and the
client (``adamlab reproduce table1 --server``, runs on a service) build the same ten
specs and write the same table.

Ten configurations: logistic regression (no dropout column in the table), the MLP and the
CNN each with and without dropout, each with Adam and with AdaMax. The settings the study
states: 20 epochs, batch 128, α_t = α/√t, β1 = 0.9, β2 = 0.999, ε = 1e-8, λ = 0. The
choices it leaves open, and ours:

- α: Kingma & Ba's defaults, 0.001 for Adam and 0.002 for AdaMax.
- t of α/√t: counted in epochs (see ``core.spec.InverseSqrtSchedule`` for why).
- dropout rate: 0.5, the rate Srivastava et al. (2014) use for hidden units; applied to
  the MLP's hidden layers and the CNN's fully connected inputs (``worker.models``).
- NN: two hidden layers of 1000 ReLU units (Kingma & Ba, section 6.2).
- CNN widths: 32 and 64 channels, 1000 hidden units (``core.spec.CnnModel``).
- data: pixels scaled to [0, 1], no augmentation, no validation hold-out; the test split
  is the published 10,000 images; accuracy after the last epoch (not the best epoch).
- one seed per configuration (``--seed``, default 0) for initialisation, shuffling and
  dropout.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from core.spec import ExperimentSpec, MnistDataset

MODELS = ("lr", "mlp", "cnn")
OPTIMIZERS = ("adam", "adamax")
LEARNING_RATES = {"adam": 1e-3, "adamax": 2e-3}
OPTIMIZER_LABELS = {"adam": "Adam", "adamax": "AdaMax"}
DROPOUT_RATE = 0.5
STUDY_EPOCHS = 20
BATCH_SIZE = 128

# (model, dropout?, column title) in the table's order.
COLUMNS: tuple[tuple[str, bool, str], ...] = (
    ("lr", False, "LR"),
    ("mlp", True, "NN, dropout"),
    ("mlp", False, "NN"),
    ("cnn", True, "CNN, dropout"),
    ("cnn", False, "CNN"),
)
PUBLISHED: dict[str, tuple[float, ...]] = {
    "adam": (92.69, 98.43, 98.17, 99.21, 99.21),
    "adamax": (92.38, 98.14, 98.33, 99.09, 99.09),
}
"""Published test accuracies in percent, in the order of ``COLUMNS``."""
TOLERANCE_POINTS = 0.3
"""The target: every cell at or above the published value minus this many points."""

_MODEL_SPECS = {
    "lr": {"name": "logistic_regression"},
    "mlp": {"name": "mlp"},
    "cnn": {"name": "cnn"},
}


@dataclass(frozen=True)
class Config:
    """One cell of the table."""

    optimizer: str
    model: str
    dropout: bool
    column: str
    spec: ExperimentSpec

    @property
    def key(self) -> str:
        return f"{self.model}{'-dropout' if self.dropout else ''}-{self.optimizer}"

    @property
    def dataset(self) -> MnistDataset:
        """The spec's data set: MNIST in every cell of the table."""
        dataset = self.spec.dataset
        assert isinstance(dataset, MnistDataset)
        return dataset


@dataclass(frozen=True)
class CellOutcome:
    """How one configuration's run ended, wherever it ran (this machine or a service)."""

    config: Config
    status: str
    """succeeded, failed, cancelled (or queued/running when it was not waited for)."""
    test_accuracy: float | None
    """The final test accuracy (a fraction), for a succeeded run only."""
    epochs_completed: int
    device: str
    seconds: float
    train_examples: int | None = None


def table1_configs(
    *,
    epochs: int = STUDY_EPOCHS,
    models: Sequence[str] = MODELS,
    optimizers: Sequence[str] = OPTIMIZERS,
    seed: int = 0,
    device: str = "auto",
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> list[Config]:
    """The table's configurations for ``models`` × ``optimizers``, in table order."""
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {list(MODELS)}")
    unknown = sorted(set(optimizers) - set(OPTIMIZERS))
    if unknown:
        raise ValueError(f"unknown optimizers {unknown}; choose from {list(OPTIMIZERS)}")
    configs: list[Config] = []
    for optimizer in OPTIMIZERS:
        if optimizer not in optimizers:
            continue
        for model, dropout, column in COLUMNS:
            if model not in models:
                continue
            model_spec = dict(_MODEL_SPECS[model], dropout=DROPOUT_RATE if dropout else 0.0)
            spec = ExperimentSpec.model_validate(
                {
                    "name": f"table1-{model}{'-dropout' if dropout else ''}-{optimizer}",
                    "tags": ["table1"],
                    "dataset": {
                        "name": "mnist",
                        "batch_size": BATCH_SIZE,
                        "train_limit": train_limit,
                        "test_limit": test_limit,
                    },
                    "model": model_spec,
                    "optimizer": {
                        "name": optimizer,
                        "lr": LEARNING_RATES[optimizer],
                        "betas": [0.9, 0.999],
                        "eps": 1e-8,
                    },
                    "schedule": {"name": "inverse_sqrt", "per": "epoch"},
                    "epochs": epochs,
                    "l2": 0.0,
                    "seed": seed,
                    "device": device,
                }
            )
            configs.append(Config(optimizer, model, dropout, column, spec))
    return configs


def is_study_setting(configs: Sequence[Config]) -> bool:
    """True when every configuration has the study's epochs and the full data."""
    return all(
        c.spec.epochs == STUDY_EPOCHS
        and c.dataset.train_limit is None
        and c.dataset.test_limit is None
        for c in configs
    )


def _setting_note(configs: Sequence[Config]) -> list[str]:
    """A line saying the runs are shortened, when they are not the study's setting."""
    if is_study_setting(configs):
        return []
    lines: list[str] = []
    first = configs[0].spec if configs else None
    first_data = configs[0].dataset if configs else None
    lines += [
        "**Not the study's setting** (a shortened run, for checking the pipeline only): "
        f"{first.epochs if first else '?'} epoch{'' if first and first.epochs == 1 else 's'}, "
        "training examples limited to "
        f"{first_data.train_limit if first_data else '?'}, test examples limited to "
        f"{first_data.test_limit if first_data else '?'}.",
        "",
    ]
    return lines


def _table_header() -> list[str]:
    """The table's header row (its five columns) and the row under it."""
    return [
        "| | " + " | ".join(column for _, _, column in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]


SETTINGS_LINES: list[str] = [
    "## Settings",
    "",
    "Stated by the study: MNIST, batch 128, α_t = α/√t, β1 = 0.9, β2 = 0.999, ε = 1e-8, "
    "λ = 0, 20 epochs. Our choices where it is silent:",
    "",
    "- α = 0.001 for Adam, 0.002 for AdaMax (Kingma & Ba's defaults).",
    "- t of α/√t counts epochs (the rate is α in epoch 1, α/√2 in epoch 2, ...).",
    f"- dropout rate {DROPOUT_RATE} on the MLP's hidden layers and on the inputs of the "
    "CNN's two fully connected layers; none on logistic regression.",
    "- NN: 784 → 1000 → 1000 → 10, ReLU. CNN: [conv 5×5 (32) → max-pool 3×3/2 → ReLU] → "
    "[conv 5×5 (64) → max-pool 3×3/2 → ReLU] → FC 1000 → ReLU → FC 10; conv padding 2.",
    "- pixels scaled to [0, 1]; no augmentation; PyTorch's default initialisation; "
    "accuracy of the model after the last epoch on the 10,000 test images.",
    "",
]
"""The section of a Table 1 report on its settings: the study's and our choices."""


def table1_markdown(outcomes: Sequence[CellOutcome], *, machine: str) -> str:
    """The table with the published numbers beside ours, and how it was made; ``machine``
    says where the runs ran (and with which software)."""
    by_cell = {(o.config.optimizer, o.config.column): o for o in outcomes}
    configs = [o.config for o in outcomes]
    lines = ["# Table 1 reproduction: test accuracy on MNIST", ""]
    lines += _setting_note(configs)
    lines += _table_header()
    for optimizer in OPTIMIZERS:
        label = OPTIMIZER_LABELS[optimizer]
        published = PUBLISHED[optimizer]
        ours: list[str] = []
        delta: list[str] = []
        for (_, _, column), reference in zip(COLUMNS, published, strict=True):
            outcome = by_cell.get((optimizer, column))
            if outcome is None:
                ours.append("not run")
                delta.append("")
            elif outcome.test_accuracy is None:
                ours.append(outcome.status)
                delta.append("")
            else:
                percent = 100.0 * outcome.test_accuracy
                mark = "" if percent >= reference - TOLERANCE_POINTS else " (below target)"
                ours.append(f"**{percent:.2f}%**")
                delta.append(f"{percent - reference:+.2f}{mark}")
        lines.append(f"| {label}, published | " + " | ".join(f"{v:.2f}%" for v in published) + " |")
        lines.append(f"| {label}, ours | " + " | ".join(ours) + " |")
        lines.append(f"| {label}, ours − published (points) | " + " | ".join(delta) + " |")
    lines += [
        "",
        f"Target: every cell at or above the published value minus {TOLERANCE_POINTS} points.",
        "",
        "## Runs",
        "",
        "| configuration | status | seed | epochs | train / test examples | device | wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        spec = outcome.config.spec
        train_examples = "?" if outcome.train_examples is None else outcome.train_examples
        lines.append(
            f"| {outcome.config.key} | {outcome.status} | {spec.seed} | "
            f"{outcome.epochs_completed}/{spec.epochs} | "
            f"{train_examples} / {outcome.config.dataset.test_limit or MnistDataset.test_size} | "
            f"{outcome.device} | {outcome.seconds:.0f} s |"
        )
    lines += [
        "",
        f"Machine: {machine}.",
        "",
    ]
    lines += SETTINGS_LINES
    return "\n".join(lines)


@dataclass(frozen=True)
class SeedCells:
    """One configuration of the table run with several seeds: the final test accuracy (a
    fraction) of each seed whose run succeeded, and how many seeds ran."""

    config: Config
    accuracies: tuple[float, ...]
    seeds: int


def table1_seeds_markdown(cells: Sequence[SeedCells], *, machine: str, source: str) -> str:
    """The table across seeds: per cell the median of the seeds' accuracies and their
    range (lowest–highest), beside the published numbers; ``source`` names where the runs
    are (a sweep), ``machine`` where they ran."""
    by_cell = {(c.config.optimizer, c.config.column): c for c in cells}
    seeds = max((c.seeds for c in cells), default=0)
    lines = [f"# Table 1 reproduction: test accuracy on MNIST, {seeds} seeds", ""]
    lines += _setting_note([c.config for c in cells])
    lines += _table_header()
    for optimizer in OPTIMIZERS:
        label = OPTIMIZER_LABELS[optimizer]
        published = PUBLISHED[optimizer]
        median: list[str] = []
        spread: list[str] = []
        delta: list[str] = []
        for (_, _, column), reference in zip(COLUMNS, published, strict=True):
            cell = by_cell.get((optimizer, column))
            if cell is None or not cell.accuracies:
                median.append("not run" if cell is None else "no seed succeeded")
                spread.append("")
                delta.append("")
                continue
            percents = sorted(100.0 * a for a in cell.accuracies)
            middle = statistics.median(percents)
            mark = "" if middle >= reference - TOLERANCE_POINTS else " (below target)"
            median.append(f"**{middle:.2f}%**")
            spread.append(
                f"{percents[0]:.2f}–{percents[-1]:.2f}% ({len(percents)} of {cell.seeds})"
            )
            delta.append(f"{middle - reference:+.2f}{mark}")
        lines.append(f"| {label}, published | " + " | ".join(f"{v:.2f}%" for v in published) + " |")
        lines.append(f"| {label}, ours (median of seeds) | " + " | ".join(median) + " |")
        lines.append(f"| {label}, ours, lowest–highest seed | " + " | ".join(spread) + " |")
        lines.append(f"| {label}, median − published (points) | " + " | ".join(delta) + " |")
    lines += [
        "",
        f"Target: every cell's median at or above the published value minus "
        f"{TOLERANCE_POINTS} points. The study reports one run per cell; the range says how "
        "far one run may land from the median.",
        "",
        f"Runs: {source}. Machine: {machine}.",
        "",
    ]
    lines += SETTINGS_LINES
    return "\n".join(lines)
