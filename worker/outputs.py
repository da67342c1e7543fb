"""A local run's files: ``metrics.json`` (spec, result, every point), ``metrics.csv`` and
``curves.png``, written by ``adamlab train`` and by each run of ``adamlab reproduce``."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from core.metrics import MetricPoint
from core.plots.drawing import write_png
from core.plots.run_chart import learning_curves_png
from core.spec import ExperimentSpec
from worker.run_result import RunResult

METRICS_JSON = "metrics.json"
METRICS_CSV = "metrics.csv"
CURVES_PNG = "curves.png"


@dataclasses.dataclass(frozen=True)
class SavedRun:
    spec: ExperimentSpec
    result: RunResult
    points: list[MetricPoint]


def write_run(
    folder: Path, spec: ExperimentSpec, result: RunResult, points: list[MetricPoint]
) -> None:
    """Write the three files of a run into ``folder`` (the PNG only when there are points)."""
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "spec": spec.model_dump(mode="json"),
        "result": dataclasses.asdict(result),
        "points": [dataclasses.asdict(point) for point in points],
    }
    _write_atomically(folder / METRICS_JSON, json.dumps(document, indent=1))
    with (folder / METRICS_CSV).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "step", "epoch", "value"])
        writer.writerows((p.name, p.step, p.epoch, repr(p.value)) for p in points)
    if points:
        png = learning_curves_png(points, spec=spec.model_dump(mode="json"), status=result.status)
        write_png(png, folder / CURVES_PNG)


def read_run(folder: Path) -> SavedRun | None:
    """The run saved in ``folder``, or None when there is none."""
    path = folder / METRICS_JSON
    if not path.is_file():
        return None
    document: dict[str, Any] = json.loads(path.read_text())
    return SavedRun(
        spec=ExperimentSpec.model_validate(document["spec"]),
        result=RunResult(**document["result"]),
        points=[MetricPoint(**point) for point in document["points"]],
    )


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(temporary, path)
