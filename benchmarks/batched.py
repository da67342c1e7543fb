"""Members trained per second: a group of M members as one stacked model
(``worker.batched.train_group``) against the same M specs trained one after another by the
engine (``worker.engine.run_experiment``), in this process, on the CPU. Each member has its
own seed and learning rate; both sides train the same iterations and evaluate on the test
split once at the end (the engine after every epoch: the workloads are one epoch).

Usage: python benchmarks/batched.py [--members 1 4 16 64] [--workload NAME ...] [--json F]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import report  # noqa: E402
from core.spec import ExperimentSpec  # noqa: E402
from worker.batched import train_group  # noqa: E402
from worker.datasets import load_dataset  # noqa: E402
from worker.engine import run_experiment  # noqa: E402

WORKLOADS: dict[str, dict[str, Any]] = {
    # one epoch each; MNIST limited to 6,400 training images (50 iterations of 128)
    "mnist-lr": {"dataset": {"name": "mnist", "batch_size": 128, "train_limit": 6400},
                 "model": {"name": "logistic_regression"}},
    "digits-mlp": {"dataset": {"name": "digits"}, "model": {"name": "mlp", "hidden_sizes": [64]}},
    "mnist-mlp": {"dataset": {"name": "mnist", "batch_size": 128, "train_limit": 6400},
                  "model": {"name": "mlp"}},
    "mnist-cnn": {"dataset": {"name": "mnist", "batch_size": 128, "train_limit": 6400},
                  "model": {"name": "cnn"}},
}  # fmt: skip


def members(workload: str, count: int) -> list[ExperimentSpec]:
    return [
        ExperimentSpec.model_validate(
            WORKLOADS[workload]
            | {"optimizer": {"name": "adam", "lr": 1e-3 * (1 + i % 8)}, "seed": i, "epochs": 1,
               "device": "cpu"}
        )
        for i in range(count)
    ]  # fmt: skip


def measure(workload: str, count: int) -> dict[str, Any]:
    specs = members(workload, count)
    data = load_dataset(specs[0].dataset)
    train_group(specs[:1], data)  # warm: the first vmap, the data in memory
    run_experiment(specs[0])
    started = time.perf_counter()
    for spec in specs:
        result = run_experiment(spec)
        assert result.status == "succeeded", result
    solo_s = time.perf_counter() - started
    started = time.perf_counter()
    train_group(specs, data)
    group_s = time.perf_counter() - started
    examples = len(data.train) * count
    return {
        "workload": workload,
        "members": count,
        "solo_s": round(solo_s, 2),
        "group_s": round(group_s, 2),
        "speedup": round(solo_s / group_s, 2),
        "members_per_s_solo": round(count / solo_s, 2),
        "members_per_s_group": round(count / group_s, 2),
        "examples_per_s_solo": round(examples / solo_s),
        "examples_per_s_group": round(examples / group_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--workload", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "runs": [],
    }
    for workload in args.workload:
        for count in args.members:
            figures["runs"].append(measure(workload, count))
            print(figures["runs"][-1], file=sys.stderr, flush=True)
    report(figures, args.json)


if __name__ == "__main__":
    main()
