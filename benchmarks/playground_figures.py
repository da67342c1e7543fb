"""The figures of docs/reproductions.md's Playground section: each playground preset
(``core/sweeps/presets.py``) run on this machine through the engine, its figure written to
``--out`` (default docs/img) and the numbers each figure's claim rests on printed.

    .venv/bin/python benchmarks/playground_figures.py              # every figure, ~1 min
    .venv/bin/python benchmarks/playground_figures.py --only canyon --gif

- ``playground-canyon.png`` (and with ``--gif`` ``playground-canyon.gif``): the canyon
  preset, SGD, SGD with momentum and Adam on (x² + 100·y²)/2 from (−8, 1), 100 steps.
- ``playground-reddi.png``: Reddi et al.'s online problem, Adam and AMSGrad, 10,100 steps.
- ``playground-rosenbrock.png``: every optimizer of the catalog on Rosenbrock from
  (−1.5, 2), 2,000 steps, each at a rate of its usual order that does not diverge.
- ``playground-tutorial.png``: the tutorial's fit, w and b per step from 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

ROSENBROCK_OPTIMIZERS: list[dict[str, Any]] = [
    {"name": "sgd", "lr": 1e-3},
    {"name": "sgd", "lr": 1e-3, "momentum": 0.9},
    {"name": "sgd", "lr": 1e-3, "momentum": 0.9, "nesterov": True},
    {"name": "rmsprop", "lr": 1e-2},
    {"name": "adagrad", "lr": 0.5},
    {"name": "adadelta", "lr": 1.0},
    {"name": "adam", "lr": 0.05},
    {"name": "adam", "lr": 0.05, "bias_correction": False},
    {"name": "adam", "lr": 0.05, "amsgrad": True},
    {"name": "adamax", "lr": 0.05},
    {"name": "adamw", "lr": 0.05},
]
"""Every optimizer of the catalog (Adam also without bias correction and as AMSGrad)."""


def rosenbrock_runs() -> list[Any]:
    from core.spec import ExperimentSpec
    from worker.engine import run_experiment
    from worker.reproduce_playground import PresetRun
    from worker.sinks import ListSink

    runs = []
    for optimizer in ROSENBROCK_OPTIMIZERS:
        spec = ExperimentSpec.model_validate(
            {"name": "rosenbrock", "dataset": {"name": "function", "function": "rosenbrock"},
             "model": {"name": "point"}, "optimizer": optimizer, "epochs": 20, "device": "cpu"}
        )  # fmt: skip
        sink = ListSink()
        runs.append(PresetRun(spec, run_experiment(spec, sink=sink), sink.points))
    return runs


def tutorial_figure(out: Path) -> Path:
    from core.plots.drawing import render_panels, write_png
    from core.plots.run_chart import learning_curve_panels
    from worker.engine import run_experiment
    from worker.reproduce_playground import preset_specs
    from worker.sinks import ListSink

    (spec,) = preset_specs("tutorial")
    sink = ListSink()
    result = run_experiment(spec.model_copy(update={"device": "cpu"}), sink=sink)
    final = result.final_metrics
    print(f"tutorial: {result.status}, w {final['w']:.4f}, b {final['b']:.4f}, "
          f"train MSE {final['train_mse']:.4f}")  # fmt: skip
    panels = [
        p for p in learning_curve_panels(sink.points, optimizer="adam")
        if p.title in ("Fitted line", "Loss per epoch")
    ]  # fmt: skip
    title = "The tutorial: y = 2x + 1 + N(0, 1), Adam lr 0.1, 100 full-batch steps from w = b = 0"
    return write_png(render_panels(panels, title=title, columns=2), out / "playground-tutorial.png")


TITLES = {
    "canyon": "The canyon: SGD bounces and crawls, momentum damps, Adam steps alike per coordinate",
    "reddi": "Reddi et al.'s counterexample: Adam drifts to +1, AMSGrad finds −1",
    "rosenbrock": "Every optimizer of the catalog on Rosenbrock, 2,000 steps",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "img")
    parser.add_argument("--only", choices=["canyon", "reddi", "rosenbrock", "tutorial"])
    parser.add_argument("--gif", action="store_true", help="also the canyon's GIF")
    args = parser.parse_args()
    from worker.reproduce_playground import preset_figure, run_preset

    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("canyon", "reddi", "rosenbrock", "tutorial"):
        if args.only not in (None, name):
            continue
        started = time.perf_counter()
        if name == "tutorial":
            path = tutorial_figure(args.out)
            print(f"  wrote {path} in {time.perf_counter() - started:.1f} s")
            continue
        runs = rosenbrock_runs() if name == "rosenbrock" else run_preset(name)
        for run in runs:
            x = [p.value for p in run.points if p.name == "x"]
            print(f"{name}: {run.trajectory().label}: {run.result.status}, "
                  f"distance {run.result.final_metrics.get('distance', float('nan')):.4g}, "
                  f"final x {x[-1] if x else None}")  # fmt: skip
        formats = ["png", "gif"] if args.gif and name == "canyon" else ["png"]
        for image_format in formats:
            image = preset_figure(runs, image_format=image_format, title=TITLES[name])  # type: ignore[arg-type]
            path = args.out / f"playground-{name}.{image_format}"
            path.write_bytes(image)
            print(f"  wrote {path} ({len(image) // 1024} KiB) in "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
