"""``adamlab reproduce canyon|reddi|tutorial``: a playground preset (``core/sweeps/presets.py``)
run on this machine through the engine. Writes to ``--out`` (default ``runs/<target>``)
``summary.json`` (each run's status, final metrics and last position) and the figure:
``<target>.png`` and ``<target>.svg`` (trajectories over the contour, f − f*, the
per-coordinate steps; the tutorial: its loss, w and b), with ``--gif`` also
``<target>.gif``. On a service the same runs are ``adamlab sweep create --preset NAME``,
and their figure ``GET /v1/compare/trajectory.png?ids=...`` of the sweep's members."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PLAYGROUND_TARGETS = ("canyon", "reddi", "tutorial")
TITLES = {
    "canyon": "The canyon: SGD bounces and crawls, momentum damps, Adam steps alike per coordinate",
    "reddi": "Reddi et al.'s counterexample: Adam drifts to +1, AMSGrad finds −1",
    "tutorial": "The tutorial: y = 2x + 1 + N(0, 1), Adam lr 0.1, 100 full-batch steps from 0",
}


def run_playground(args: argparse.Namespace) -> int:
    from core.plots.drawing import render_panels
    from core.plots.run_chart import learning_curve_panels
    from worker.reproduce_playground import preset_figure, run_preset

    target: str = args.target
    if args.server is not None:
        print(
            f"adamlab reproduce: {target} runs here; on a service, "
            f"`adamlab sweep create --preset {target}`, then the members' "
            "GET /v1/compare/trajectory.png?ids=...",
            file=sys.stderr,
        )
        return 2
    out: Path = args.out or Path("runs") / target
    out.mkdir(parents=True, exist_ok=True)
    runs = run_preset(target, device=args.device, seeds=[args.seed])
    summary = {}
    for run in runs:
        last = {p.name: p.value for p in run.points if p.name in ("x", "y", "w", "b")}
        summary[run.spec.name] = {
            "status": run.result.status,
            "optimizer": run.spec.optimizer.model_dump(mode="json"),
            "final_metrics": run.result.final_metrics,
            "last": last,
            "error": run.result.error,
        }
        shown = ", ".join(
            f"{name} {value:.4g}" for name, value in last.items() if value is not None
        )
        print(f"  {run.spec.name}: {run.result.status}; {shown}")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    formats = ["png", "svg", *(["gif"] if args.gif else [])]
    written = []
    for image_format in formats:
        path = out / f"{target}.{image_format}"
        if target == "tutorial":
            if image_format == "gif":
                continue
            panels = [
                panel for panel in learning_curve_panels(runs[0].points, optimizer="adam")
                if panel.title in ("Fitted line", "Loss per epoch")
            ]  # fmt: skip
            image = render_panels(panels, title=TITLES[target], image_format=image_format)  # type: ignore[arg-type]
        else:
            image = preset_figure(runs, image_format=image_format, title=TITLES[target])  # type: ignore[arg-type]
        path.write_bytes(image)
        written.append(path.name)
    print(f"wrote {out / 'summary.json'}, " + ", ".join(written))
    failed = [run for run in runs if run.result.status != "succeeded"]
    for run in failed:
        print(f"adamlab reproduce: {run.spec.name} {run.result.status}: {run.result.error}",
              file=sys.stderr)  # fmt: skip
    return 1 if failed else 0
