"""Pieces of the results routes on their own (no server): the bound on plotted points,
content negotiation and the CSV writer, the parsing of compare's query, titles and file
names, and core/plots/' figures."""

from __future__ import annotations

import csv
import io
import math
import xml.etree.ElementTree as ET

import pytest
from fastapi.exceptions import RequestValidationError

from api.representations import points_csv, prefers_csv
from api.routes.compare import MAX_COMPARED, parse_ids, parse_metrics
from api.routes.weights import download_name
from core.metrics import METRICS, MetricSeries
from core.plots.comparison import comparison_panels
from core.plots.drawing import render_panels
from core.plots.run_chart import learning_curve_panels, spec_title
from core.store import plot_series as plots

SVG = "{http://www.w3.org/2000/svg}"


def test_plot_series_downsamples_long_curves_keeping_ends_and_extremes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    total = 50_000
    values: list[float | None] = [math.sin(step / 300) for step in range(1, total + 1)]
    values[12_345] = 99.0  # a spike
    values[40_000] = None  # a non-finite value
    curve = MetricSeries(
        steps=list(range(1, total + 1)),
        epochs=[1 + step // 1000 for step in range(total)],
        values=values,
    )
    short = MetricSeries(steps=[1000, 2000], epochs=[1, 2], values=[0.5, 0.75])
    stored = {"batch_loss": curve, "test_acc": short, "lr": MetricSeries([], [], [])}
    monkeypatch.setattr(plots, "metric_names", lambda **_: list(stored))
    monkeypatch.setattr(plots, "read_curve", lambda *, name, **_: stored[name])

    drawn = plots.plot_series(session=None, experiment_id="e").curves  # type: ignore[arg-type]

    assert set(drawn) == {"batch_loss", "test_acc"}  # a metric without points is left out
    loss = drawn["batch_loss"]
    assert plots.PLOT_MAX_POINTS // 2 < len(loss.steps) <= plots.PLOT_MAX_POINTS
    assert (loss.steps[0], loss.steps[-1]) == (1, total)
    assert loss.steps == sorted(loss.steps)
    assert 99.0 in loss.values
    assert min(v for v in loss.values if v is not None) == min(v for v in values if v is not None)
    assert drawn["test_acc"] == MetricSeries(steps=[1000, 2000], epochs=[1, 2], values=[0.5, 0.75])


@pytest.mark.parametrize(
    ("accept", "csv_wanted"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("text/csv", True),
        ("TEXT/CSV; charset=utf-8", True),
        ("text/csv;q=0", False),
        ("application/json, text/csv", False),  # a tie goes to JSON
        ("application/json;q=0.5, text/csv", True),
        ("text/csv, */*;q=0.1", True),
        ("text/*", False),
        ("text/csv;q=oops", False),
    ],
)
def test_prefers_csv(accept: str | None, csv_wanted: bool) -> None:
    assert prefers_csv(accept) is csv_wanted


def test_points_csv_reads_back_exactly() -> None:
    rows = [("batch_loss", 1, 1, 0.1 + 0.2), ("w, b", 2, 1, None), ("lr", 3, 1, 1e-300)]
    text = points_csv(rows)
    assert text.splitlines()[0] == "name,step,epoch,value"
    parsed = [
        (
            row["name"],
            int(row["step"]),
            int(row["epoch"]),
            float(row["value"]) if row["value"] else None,
        )
        for row in csv.DictReader(io.StringIO(text))
    ]
    assert parsed == rows


def test_parse_ids_splits_strips_and_deduplicates() -> None:
    assert parse_ids(["a, b", "a", "c,"]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "ids", [[], [""], [" , "], [",".join(f"x{i}" for i in range(MAX_COMPARED + 1))]]
)
def test_parse_ids_refuses_none_or_too_many(ids: list[str]) -> None:
    with pytest.raises(RequestValidationError) as raised:
        parse_ids(ids)
    assert [error["loc"] for error in raised.value.errors()] == [("query", "ids")]


def test_parse_metrics_names_each_unknown_one() -> None:
    assert parse_metrics(["test_acc", "batch_loss", "test_acc"]) == ["test_acc", "batch_loss"]
    with pytest.raises(RequestValidationError) as raised:
        parse_metrics(["test_acc", "accuracy", "loss"])
    assert [error["input"] for error in raised.value.errors()] == ["accuracy", "loss"]
    assert all(error["loc"] == ("query", "metric") for error in raised.value.errors())


def test_spec_title_states_the_essentials() -> None:
    spec = {
        "name": "cnn-adamax",
        "dataset": {"name": "mnist"},
        "model": {"name": "cnn", "dropout": 0.5},
        "optimizer": {"name": "adamax", "lr": 0.002},
        "schedule": {"name": "inverse_sqrt"},
        "epochs": 1,
    }
    assert spec_title(spec) == (
        "cnn-adamax: mnist, cnn (dropout 0.5), adamax (lr 0.002, inverse_sqrt), 1 epoch"
    )


def test_download_name_is_safe_for_any_experiment_name() -> None:
    assert download_name("../../etc/passwd", "0123456789") == "etc-passwd-01234567.safetensors"
    assert download_name('a "quoted" name', "abcdefghij") == "a-quoted-name-abcdefgh.safetensors"
    assert download_name("///", "abcdefghij") == "experiment-abcdefgh.safetensors"


def test_comparison_panels_one_line_per_run_with_points() -> None:
    with_points = {"test_acc": MetricSeries(steps=[5, 10], epochs=[1, 2], values=[0.5, 0.6])}
    panels = comparison_panels([("a", with_points), ("b", {})], ["test_acc", "batch_loss"])
    assert [panel.title for panel in panels] == ["test accuracy", METRICS["batch_loss"].label]
    assert [curve.label for curve in panels[0].curves] == ["a"]
    assert panels[0].curves[0].xs == [1, 2]  # per-epoch metrics are drawn by epoch
    assert panels[1].curves == []
    with pytest.raises(ValueError, match="unknown metrics"):
        comparison_panels([("a", with_points)], ["accuracy"])


def test_svg_and_png_of_the_same_panels() -> None:
    by_name = {
        "batch_loss": MetricSeries(steps=[1, 2, 3], epochs=[1, 1, 1], values=[2.0, None, 1.0]),
        "test_acc": MetricSeries(steps=[3], epochs=[1], values=[0.9]),
    }
    panels = learning_curve_panels(by_name)
    assert render_panels(panels, image_format="png").startswith(b"\x89PNG\r\n\x1a\n")
    root = ET.fromstring(render_panels(panels, title="t", image_format="svg"))
    ids = {g.get("id") for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith("curve:")}
    assert ids == {
        "curve:Training objective per iteration:batch loss",
        "curve:Accuracy per epoch:test",
    }
    with pytest.raises(ValueError, match="image_format"):
        render_panels(panels, image_format="jpg")  # type: ignore[arg-type]
    empty = comparison_panels([("a", {})], ["test_acc"])
    with pytest.raises(ValueError, match="nothing to plot"):
        render_panels(empty)
    assert render_panels(empty, allow_empty=True).startswith(b"\x89PNG")
