"""Looking at results over HTTP, against the live service (tests/support/): learning
curves as PNG and SVG, comparisons (JSON and figures), metrics as CSV, and the final
weights as safetensors, reloaded to the reported test accuracy."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.metrics import METRICS
from tests.factories import digits_body, diverging_body, per_example_body
from tests.support.client import finished, poll_experiment
from tests.support.service import Service

pytestmark = [pytest.mark.service, pytest.mark.slow]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DIGITS: dict[str, Any] = digits_body(epochs=3, device="cpu")
SPECS: dict[str, dict[str, Any]] = {
    "adam": DIGITS | {"name": "results-adam", "optimizer": {"name": "adam", "lr": 0.01}},
    "adamax": DIGITS | {"name": "results-adamax", "optimizer": {"name": "adamax", "lr": 0.02}},
    # 898 iterations per epoch: longer curves than a figure draws.
    "long": per_example_body(
        name="results-long", optimizer={"name": "adam", "lr": 0.001}, epochs=3, device="cpu"
    ),
    # SGD with a huge step on the regression data: the loss overflows within a few steps.
    "diverged": diverging_body(name="results-diverged"),
    # No worker of the tests consumes the gpu queue: it stays queued, without points.
    "parked": DIGITS | {"name": "results-parked", "device": "cuda"},
}


@pytest.fixture(scope="module")
def runs(service: Service) -> Iterator[dict[str, dict[str, Any]]]:
    """The experiments of SPECS, each as the API shows it once finished (parked: queued)."""
    with httpx.Client(base_url=service.base_url, timeout=30.0) as http:
        ids = {}
        for key, spec in SPECS.items():
            response = http.post("/v1/experiments", json=spec)
            assert response.status_code == 201, response.text
            ids[key] = response.json()["id"]
        shown = {
            key: poll_experiment(http, ids[key], until=finished, timeout_s=120)
            for key in ids
            if key != "parked"
        }
        shown["parked"] = http.get(f"/v1/experiments/{ids['parked']}").json()
    assert shown["parked"]["status"] == "queued"
    for key in ("adam", "adamax", "long"):
        assert shown[key]["status"] == "succeeded", shown[key]
    assert shown["diverged"]["status"] == "failed", shown["diverged"]
    yield shown


def decoded_png(content: bytes) -> Any:
    """The PNG decoded to pixels (matplotlib reads it through Pillow)."""
    from matplotlib.image import imread

    assert content.startswith(PNG_SIGNATURE)
    pixels = imread(io.BytesIO(content), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 200
    assert pixels.std() > 0  # something is drawn
    return pixels


def parsed_svg(content: bytes) -> tuple[ET.Element, list[str]]:
    """The SVG's root element and its comments (matplotlib writes each text it draws as
    paths, preceded by a comment holding the text)."""
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.fromstring(content, parser=parser)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    comments = [node.text.strip() for node in root.iter() if node.tag is ET.Comment and node.text]
    return root, comments


def curve_groups(root: ET.Element) -> dict[str, list[ET.Element]]:
    """``curve:<panel>:<label>`` → the paths of that line."""
    return {
        group.get("id", ""): group.findall("{http://www.w3.org/2000/svg}path")
        for group in root.iter("{http://www.w3.org/2000/svg}g")
        if group.get("id", "").startswith("curve:")
    }


def vertex_count(path: ET.Element) -> int:
    """Points of a matplotlib line path: one M, then one L per further point."""
    d = path.get("d", "")
    return d.count("M") + d.count("L")


# --- plot.png / plot.svg ------------------------------------------------------------------


def test_plot_png_is_a_png_of_the_learning_curves(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    response = client.get(f"/v1/experiments/{runs['adam']['id']}/plot.png")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    decoded_png(response.content)


def test_plot_svg_has_each_curve_and_the_spec_in_its_title(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    response = client.get(f"/v1/experiments/{runs['adam']['id']}/plot.svg")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    root, comments = parsed_svg(response.content)
    groups = curve_groups(root)
    expected = {  # the learning rate is constant: a note under the title, not a panel
        "curve:Training objective per iteration:batch loss",
        "curve:Loss per epoch:train",
        "curve:Loss per epoch:test",
        "curve:Accuracy per epoch:train",
        "curve:Accuracy per epoch:test",
    }
    assert set(groups) == expected
    assert all(len(paths) == 1 for paths in groups.values())
    # Every point of a short run is drawn (but for any matplotlib drops as collinear).
    steps = runs["adam"]["progress"]["total_steps"]
    drawn = vertex_count(groups["curve:Training objective per iteration:batch loss"][0])
    assert 0.9 * steps <= drawn <= steps
    assert vertex_count(groups["curve:Accuracy per epoch:test"][0]) == 3
    title = "results-adam: digits, logistic_regression, adam (lr 0.01), 3 epochs"
    assert title in comments
    assert "learning rate 0.01 throughout (constant)" in comments  # the title's second line


def test_plot_of_a_long_run_draws_a_bounded_number_of_points(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    from core.store.plot_series import PLOT_MAX_POINTS

    steps = runs["long"]["progress"]["total_steps"]
    assert steps > PLOT_MAX_POINTS
    response = client.get(f"/v1/experiments/{runs['long']['id']}/plot.svg")
    assert response.status_code == 200, response.text
    groups = curve_groups(parsed_svg(response.content)[0])
    # (matplotlib drops points it would draw on top of others: fewer may be drawn; the
    # downsampling itself is tested in test_results_units.py.)
    curve = "Training objective per iteration:batch loss"
    assert vertex_count(groups[f"curve:{curve}"][0]) <= PLOT_MAX_POINTS
    smoothed = client.get(
        f"/v1/experiments/{runs['long']['id']}/plot.svg", params={"smoothing": 0.99}
    )
    assert smoothed.status_code == 200, smoothed.text
    groups = curve_groups(parsed_svg(smoothed.content)[0])
    for name in (curve, f"{curve} (EMA 0.99)"):
        assert 0 < vertex_count(groups[f"curve:{name}"][0]) <= PLOT_MAX_POINTS


def test_plot_of_a_failed_run_draws_the_points_before_the_divergence(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    response = client.get(f"/v1/experiments/{runs['diverged']['id']}/plot.png")
    assert response.status_code == 200, response.text
    decoded_png(response.content)


def test_plot_without_points_unknown_id_or_format(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    parked = client.get(f"/v1/experiments/{runs['parked']['id']}/plot.png")
    assert parked.status_code == 409
    assert "no metric points yet (queued)" in parked.json()["detail"]
    unknown = client.get("/v1/experiments/no-such-id/plot.svg")
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "No experiment with id 'no-such-id'."
    jpeg = client.get(f"/v1/experiments/{runs['adam']['id']}/plot.jpg")
    assert jpeg.status_code == 422
    assert [error["field"] for error in jpeg.json()["errors"]] == ["image_format"]


# --- compare --------------------------------------------------------------------------------


def test_compare_summarizes_the_runs_in_the_order_given(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    order = [runs[key]["id"] for key in ("adamax", "adam", "diverged", "parked")]
    response = client.get("/v1/compare", params={"ids": ",".join(order)})
    assert response.status_code == 200, response.text
    comparison = response.json()
    experiments = comparison["experiments"]
    assert [run["id"] for run in experiments] == order
    adamax, adam, diverged, parked = experiments
    assert (adamax["name"], adamax["status"], adamax["optimizer"], adamax["lr"]) == (
        "results-adamax", "succeeded", "adamax", 0.02,
    )  # fmt: skip
    assert (adam["dataset"], adam["model"], adam["epochs"], adam["dropout"]) == (
        "digits", "logistic_regression", 3, 0.0,
    )  # fmt: skip
    assert adam["final_metrics"] == runs["adam"]["final_metrics"]
    assert diverged["status"] == "failed" and "training loss became" in diverged["error"]
    assert parked["status"] == "queued" and parked["final_metrics"] is None
    assert comparison["metrics"] == ["test_acc", "test_loss", "train_acc", "train_loss"]
    best_accuracy = max(run["final_metrics"]["test_acc"] for run in (adam, adamax))
    by_id = {run["id"]: run for run in experiments}
    assert by_id[comparison["best"]["test_acc"]]["final_metrics"]["test_acc"] == best_accuracy
    table = comparison["table"].splitlines()
    assert table[0].startswith("| id | name | status |") and len(table) == 2 + len(order)
    assert f"| {adam['final_metrics']['test_acc']:.4f} |" in table[3]


def test_compare_accepts_repeated_ids_and_drops_duplicates(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    a, b = runs["adam"]["id"], runs["adamax"]["id"]
    response = client.get("/v1/compare", params=[("ids", f"{a},{b}"), ("ids", a)])
    assert [run["id"] for run in response.json()["experiments"]] == [a, b]


def test_compare_refuses_no_ids_too_many_unknown_ids_and_metrics(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    for params in ({}, {"ids": ""}, {"ids": " , "}):
        response = client.get("/v1/compare", params=params)
        assert response.status_code == 422, params
        assert [error["field"] for error in response.json()["errors"]] == ["ids"]
    many = client.get("/v1/compare", params={"ids": ",".join(f"id{i}" for i in range(21))})
    assert many.status_code == 422 and "at most 20" in many.json()["errors"][0]["message"]
    unknown = client.get("/v1/compare", params={"ids": f"{runs['adam']['id']},nope"})
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "No experiment with id 'nope'."
    image = client.get("/v1/compare.png", params={"ids": "nope"})
    assert image.status_code == 404
    bad_metric = client.get(
        "/v1/compare.png", params={"ids": runs["adam"]["id"], "metric": "accuracy"}
    )
    assert bad_metric.status_code == 422
    assert bad_metric.json()["detail"] == "1 invalid field: metric"
    assert [error["field"] for error in bad_metric.json()["errors"]] == ["metric"]
    message = bad_metric.json()["errors"][0]["message"]
    assert message.startswith("unknown metric 'accuracy'; one of batch_loss, lr, ")


def test_compare_png_overlays_the_runs(client: httpx.Client, runs: dict[str, dict]) -> None:
    ids = ",".join(runs[key]["id"] for key in ("adam", "adamax"))
    response = client.get("/v1/compare.png", params={"ids": ids, "metric": "train_loss"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    decoded_png(response.content)


def test_compare_svg_has_a_line_per_run_with_points_and_a_panel_per_metric(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    keys = ("adam", "adamax", "parked")
    params = [("ids", ",".join(runs[key]["id"] for key in keys))]
    params += [("metric", "test_acc"), ("metric", "batch_loss")]
    response = client.get("/v1/compare.svg", params=params)
    assert response.status_code == 200, response.text
    root, comments = parsed_svg(response.content)
    groups = curve_groups(root)
    labels = {key: f"{runs[key]['name']} ({runs[key]['id'][:8]})" for key in keys}
    expected = {
        f"curve:{METRICS[metric].label}:{labels[key]}"
        for metric in ("test_acc", "batch_loss")
        for key in ("adam", "adamax")  # the parked run has no points: no line
    }
    assert set(groups) == expected
    legends = {"adam": "Adam, lr 0.01", "adamax": "AdaMax, lr 0.02"}
    for key in ("adam", "adamax"):
        accuracy = groups[f"curve:test accuracy:{labels[key]}"]
        assert len(accuracy) == 1 and vertex_count(accuracy[0]) == 3
        assert f"{labels[key]}: {legends[key]}" in comments  # the legend
    assert not any(labels["parked"] in comment for comment in comments)


def test_plot_and_compare_refuse_a_smoothing_outside_0_to_1(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    adam = runs["adam"]["id"]
    for value in ("1", "1.5", "-0.1", "nan", "much"):
        for path, params in (
            (f"/v1/experiments/{adam}/plot.png", {"smoothing": value}),
            ("/v1/compare.png", {"ids": adam, "smoothing": value}),
        ):
            response = client.get(path, params=params)
            assert response.status_code == 422, (path, value, response.text)
            assert response.json()["detail"] == "1 invalid field: smoothing"
            assert [error["field"] for error in response.json()["errors"]] == ["smoothing"]


def test_compare_x_axis_by_iteration_epoch_or_examples(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    ids = ",".join(runs[key]["id"] for key in ("adam", "long"))  # batch sizes differ
    params = {"ids": ids, "metric": "batch_loss", "smoothing": "0.9"}
    texts = {}
    for x in (None, "iteration", "epoch", "examples"):
        query = params | ({"x": x} if x else {})
        response = client.get("/v1/compare.svg", params=query)
        assert response.status_code == 200, response.text
        root, comments = parsed_svg(response.content)
        texts[x] = comments
        assert "training objective per iteration (EMA 0.9)" in comments
        label = f"{runs['adam']['name']} ({runs['adam']['id'][:8]})"
        groups = curve_groups(root)
        assert f"curve:training objective per iteration (EMA 0.9):{label} (EMA 0.9)" in groups
    assert "epoch" in texts[None] and "iteration" not in texts[None]  # the default
    assert "iteration" in texts["iteration"]
    assert "examples seen" in texts["examples"]
    bad = client.get("/v1/compare.png", params={"ids": ids, "x": "time"})
    assert bad.status_code == 422
    assert [error["field"] for error in bad.json()["errors"]] == ["x"]


def test_compare_of_runs_without_points_is_409(client: httpx.Client, runs: dict[str, dict]) -> None:
    response = client.get("/v1/compare.png", params={"ids": runs["parked"]["id"]})
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "None of the experiments has points of test_acc yet; there is nothing to draw."
    )


def test_plot_of_a_failed_run_says_how_far_it_got(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    response = client.get(f"/v1/experiments/{runs['diverged']['id']}/plot.svg")
    assert response.status_code == 200, response.text
    _, comments = parsed_svg(response.content)
    epochs = runs["diverged"]["spec"]["epochs"]
    assert any(f"failed in epoch 1 of {epochs}" in comment for comment in comments), comments


# --- metrics as CSV -------------------------------------------------------------------------


def csv_curves(text: str) -> dict[str, dict[str, list]]:
    """The curves of a CSV answer; its ``# key: value`` lines (the run's reproducibility
    record, tests/api/test_run_environment.py) come before the header."""
    lines = text.splitlines(keepends=True)
    body_at = next(index for index, line in enumerate(lines) if not line.startswith("# "))
    assert body_at > 0, "no reproducibility record heads the CSV"
    reader = csv.DictReader(io.StringIO("".join(lines[body_at:])))
    assert reader.fieldnames == ["name", "step", "epoch", "value"]
    curves: dict[str, dict[str, list]] = {}
    for row in reader:
        curve = curves.setdefault(row["name"], {"steps": [], "epochs": [], "values": []})
        curve["steps"].append(int(row["step"]))
        curve["epochs"].append(int(row["epoch"]))
        curve["values"].append(float(row["value"]) if row["value"] else None)
    return curves


def json_curves(body: dict) -> dict[str, dict[str, list]]:
    return {
        name: {key: curve[key] for key in ("steps", "epochs", "values")}
        for name, curve in body["curves"].items()
    }


@pytest.mark.parametrize(
    "params",
    [{}, {"name": ["test_acc", "batch_loss"], "max_points": 16, "step_min": 3}],
    ids=["all", "filtered"],
)
def test_metrics_csv_round_trips_to_the_json_curves(
    client: httpx.Client, runs: dict[str, dict], params: dict
) -> None:
    url = f"/v1/experiments/{runs['adam']['id']}/metrics"
    as_json = client.get(url, params=params).json()
    response = client.get(url, params=params, headers={"Accept": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    parsed = csv_curves(response.text)
    assert parsed == json_curves(as_json)  # exact: floats are written as repr
    assert len(parsed["batch_loss"]["steps"]) > 4


def test_metrics_csv_keeps_a_missing_value_empty(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    url = f"/v1/experiments/{runs['diverged']['id']}/metrics"
    parsed = csv_curves(client.get(url, headers={"Accept": "text/csv"}).text)
    assert parsed == json_curves(client.get(url).json())


def test_metrics_are_json_unless_csv_is_preferred(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    url = f"/v1/experiments/{runs['adam']['id']}/metrics"
    for accept, media_type in (
        ("*/*", "application/json"),
        ("application/json, text/csv;q=0.5", "application/json"),
        ("text/csv;q=0.9, application/json;q=0.1", "text/csv"),
        ("text/csv, */*;q=0.1", "text/csv"),
    ):
        response = client.get(url, params={"name": "test_acc"}, headers={"Accept": accept})
        assert response.headers["content-type"].startswith(media_type), accept


# --- the final weights ----------------------------------------------------------------------


def test_checkpoint_reloads_to_the_reported_test_accuracy(
    client: httpx.Client, runs: dict[str, dict], tmp_path: Path
) -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    from core.spec import ExperimentSpec
    from worker.datasets import load_dataset
    from worker.models import build_model

    experiment = runs["adamax"]
    response = client.get(f"/v1/experiments/{experiment['id']}/checkpoint")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    disposition = response.headers["content-disposition"]
    assert f'filename="results-adamax-{experiment["id"][:8]}.safetensors"' in disposition
    path = tmp_path / "weights.safetensors"
    path.write_bytes(response.content)

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    spec = ExperimentSpec.model_validate_json(metadata["spec"])
    assert spec.model_dump(mode="json") == experiment["spec"]
    assert metadata["experiment_id"] == experiment["id"]
    data = load_dataset(spec.dataset)
    model = build_model(spec.model, data.input_shape, data.num_outputs)
    model.load_state_dict(load_file(path))
    model.eval()
    with torch.no_grad():
        predicted = model(data.test.inputs).argmax(dim=1)
    accuracy = ((predicted == data.test.targets).sum().to(torch.float64) / len(data.test)).item()
    assert accuracy == experiment["final_metrics"]["test_acc"]
    assert json.loads(metadata["final_metrics"])["test_acc"] == accuracy

    listed = [checkpoint["name"] for checkpoint in experiment["checkpoints"]]
    assert listed[-1] == "final.safetensors"
    assert experiment["checkpoints"][-1]["size_bytes"] == len(response.content)


def test_checkpoint_of_a_run_without_final_weights_is_404(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    for key, state in (("diverged", "failed"), ("parked", "queued")):
        response = client.get(f"/v1/experiments/{runs[key]['id']}/checkpoint")
        assert response.status_code == 404
        assert response.json()["detail"] == (
            f"Experiment {runs[key]['id']} has no final weights: it is {state}; "
            "they are saved when a run succeeds or is cancelled."
        )
    assert client.get("/v1/experiments/nope/checkpoint").status_code == 404


def test_every_metric_the_engine_writes_can_be_compared(
    client: httpx.Client, runs: dict[str, dict]
) -> None:
    written = set()
    for key in ("adam", "diverged"):
        written |= set(client.get(f"/v1/experiments/{runs[key]['id']}/metrics").json()["curves"])
    assert written <= set(METRICS), written - set(METRICS)
