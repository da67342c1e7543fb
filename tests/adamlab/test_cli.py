"""The ``adamlab`` client commands against the live service (tests/support/), each run
as its own process: submit --wait (progress on standard error, final metrics, exit codes),
list, show, cancel, plot, compare, checkpoint."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import digits_body, diverging_body, per_example_body
from tests.support.client import finished, poll_experiment
from tests.support.env import base_env
from tests.support.processes import free_port, run_to_end
from tests.support.service import Service

pytestmark = [pytest.mark.service, pytest.mark.slow]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# One example per iteration, 4 epochs: long enough (seconds) to be seen running.
RUNNING_A_WHILE: dict[str, Any] = per_example_body(
    name="cli-mlp",
    model={"name": "mlp", "hidden_sizes": [32]},
    optimizer={"name": "adam", "lr": 0.001},
    epochs=4,
    device="cpu",
)
QUICK: dict[str, Any] = digits_body(
    name="cli-quick", optimizer={"name": "adamax", "lr": 0.02}, epochs=2, device="cpu"
)
# SGD with a huge step on the regression data: the loss overflows in the first epoch.
DIVERGING: dict[str, Any] = diverging_body(name="cli-diverging")
# No worker of the tests consumes the gpu queue: it stays queued.
PARKED: dict[str, Any] = QUICK | {"name": "cli-parked", "device": "cuda"}


def adamlab(*args: str, server: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    """Run ``adamlab ARGS`` as a process against ``server``; its output as text."""
    env = base_env(ADAMLAB_SERVER=server)
    env.pop("ADAMLAB_API_KEY", None)
    return run_to_end([sys.executable, "-m", "adamlab.cli", *args], env=env, timeout_s=timeout_s)


def spec_file(folder: Path, spec: dict[str, Any]) -> Path:
    path = folder / f"{spec['name']}.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.fixture(scope="module")
def quick_runs(service: Service) -> Iterator[list[dict[str, Any]]]:
    """Two finished runs (adamax, adam) submitted over HTTP, for the reading commands."""
    with httpx.Client(base_url=service.base_url, timeout=30.0) as http:
        ids = []
        for spec in (QUICK, QUICK | {"name": "cli-quick-adam", "optimizer": {"name": "adam"}}):
            response = http.post("/v1/experiments", json=spec)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        runs = [poll_experiment(http, i, until=finished, timeout_s=120) for i in ids]
    assert [run["status"] for run in runs] == ["succeeded", "succeeded"], runs
    yield runs


def test_submit_wait_shows_progress_and_the_final_metrics(service: Service, tmp_path: Path) -> None:
    done = adamlab(
        "submit", str(spec_file(tmp_path, RUNNING_A_WHILE)), "--wait", "--poll-interval", "0.1",
        server=service.base_url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    experiment_id = done.stderr.split("submitted ", 1)[1].split()[0]
    assert f"{experiment_id}: succeeded" in done.stdout
    assert "final metrics:" in done.stdout
    shown = httpx.get(f"{service.base_url}/v1/experiments/{experiment_id}").json()
    test_acc = shown["final_metrics"]["test_acc"]
    assert any(
        line.split() == ["test_acc", f"{test_acc:.4f}"] for line in done.stdout.splitlines()
    ), done.stdout
    # The progress bar on standard error: steps out of the total, epoch, loss, ETA.
    total = shown["progress"]["total_steps"]
    progress = done.stderr.replace("\r", "\n")
    assert f"/{total}" in progress
    assert "running" in progress and "epoch=4/4" in progress
    assert "loss=" in progress and "eta=" in progress
    assert f"{total}/{total}" in progress  # the bar ends full


def test_submit_wait_exits_non_zero_when_the_experiment_fails(
    service: Service, tmp_path: Path
) -> None:
    done = adamlab(
        "submit", str(spec_file(tmp_path, DIVERGING)), "--wait", "--poll-interval", "0.1",
        server=service.base_url,
    )  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert ": failed" in done.stdout
    assert "error: training loss became inf" in done.stdout


def test_submit_without_wait_prints_the_id(service: Service, tmp_path: Path) -> None:
    done = adamlab("submit", str(spec_file(tmp_path, PARKED)), server=service.base_url)
    assert done.returncode == 0, done.stderr
    experiment_id = done.stdout.strip()
    shown = httpx.get(f"{service.base_url}/v1/experiments/{experiment_id}")
    assert shown.status_code == 200 and shown.json()["name"] == "cli-parked"


def test_submit_refusals_exit_2(service: Service, tmp_path: Path) -> None:
    bad = adamlab(
        "submit", str(spec_file(tmp_path, QUICK | {"epochs": 0})), server=service.base_url
    )
    assert bad.returncode == 2
    assert "HTTP 422" in bad.stderr and "epochs:" in bad.stderr
    not_json = tmp_path / "spec.json"
    not_json.write_text("{")
    unreadable = adamlab("submit", str(not_json), server=service.base_url)
    assert unreadable.returncode == 2 and "SPEC:" in unreadable.stderr


def test_cancel_a_queued_experiment_then_again(service: Service, tmp_path: Path) -> None:
    submitted = adamlab("submit", str(spec_file(tmp_path, PARKED)), server=service.base_url)
    experiment_id = submitted.stdout.strip()
    cancelled = adamlab("cancel", experiment_id, server=service.base_url)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.strip() == f"{experiment_id}: cancelled"
    # A repeat gets the same answer as the first cancel (docs/api.md, Cancelling).
    again = adamlab("cancel", experiment_id, server=service.base_url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"{experiment_id}: cancelled"


def test_list_and_show(service: Service, quick_runs: list[dict[str, Any]]) -> None:
    listed = adamlab("list", "--status", "succeeded", "--limit", "500", server=service.base_url)
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    for run in quick_runs:
        line = lines[run["id"]]
        assert "succeeded" in line and "100%" in line and line.endswith(run["name"])
        assert f"{100 * run['final_metrics']['test_acc']:.2f}%" in line
    assert all("succeeded" in line for line in lines.values())

    shown = adamlab("show", quick_runs[0]["id"], server=service.base_url)
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert (body["id"], body["status"]) == (quick_runs[0]["id"], "succeeded")
    assert body["final_metrics"] == quick_runs[0]["final_metrics"]

    unknown = adamlab("show", "no-such-id", server=service.base_url)
    assert unknown.returncode == 2
    assert "HTTP 404: No experiment with id 'no-such-id'." in unknown.stderr


def test_list_keeps_every_status_and_shows_the_spec_columns(
    service: Service, quick_runs: list[dict[str, Any]], tmp_path: Path
) -> None:
    parked = adamlab("submit", str(spec_file(tmp_path, PARKED)), server=service.base_url)
    parked_id = parked.stdout.strip()
    listed = adamlab("list", "--status", "succeeded", "--status", "queued", "--limit", "500",
                     server=service.base_url)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["id", "status", "progress", "test_acc", "optimizer", "lr",
                              "batch", "epochs", "created", "name"]  # fmt: skip
    cells = {row.split()[0]: row.split() for row in rows}
    assert {row[1] for row in cells.values()} == {"succeeded", "queued"}
    assert cells[parked_id][1] == "queued"
    for run in quick_runs:
        spec = run["spec"]
        created = datetime.fromisoformat(run["timings"]["queued_at"]).astimezone()
        assert cells[run["id"]][4:10] == [
            spec["optimizer"]["name"],
            f"{spec['optimizer']['lr']:g}",
            str(spec["dataset"]["batch_size"]),
            str(spec["epochs"]),
            *created.strftime("%Y-%m-%d %H:%M").split(),
        ]
        assert cells[run["id"]][-1] == run["name"]


def test_list_sorts_by_a_metric_searches_names_and_prints_json(
    service: Service, quick_runs: list[dict[str, Any]]
) -> None:
    listed = adamlab("list", "--search", "CLI-QUICK", "--sort=-test_acc", "--json",
                     "--limit", "500", server=service.base_url)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    experiments = json.loads(listed.stdout)  # one JSON document
    assert {run["id"] for run in quick_runs} <= {item["id"] for item in experiments}
    assert all("cli-quick" in item["name"] for item in experiments)
    accuracies = [(item["final_metrics"] or {}).get("test_acc") for item in experiments]
    known = [value for value in accuracies if value is not None]
    assert known == sorted(known, reverse=True)
    assert accuracies == known + [None] * (len(accuracies) - len(known))  # without it: last
    first = adamlab("list", "--search", "cli-quick", "--json", "--limit", "1",
                    server=service.base_url)  # fmt: skip
    assert len(json.loads(first.stdout)) == 1
    bad = adamlab("list", "--sort=-test_accuracy", server=service.base_url)
    assert bad.returncode == 2 and "did you mean '-test_acc'?" in bad.stderr


def test_show_and_compare_print_one_json_document(
    service: Service, quick_runs: list[dict[str, Any]]
) -> None:
    shown = adamlab("show", quick_runs[0]["id"], "--json", server=service.base_url)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == quick_runs[0]["id"]
    ids = [run["id"] for run in quick_runs]
    compared = adamlab("compare", *ids, "--json", server=service.base_url)
    assert compared.returncode == 0, compared.stderr
    body = json.loads(compared.stdout)
    assert [run["id"] for run in body["experiments"]] == ids
    assert body["best"]["test_acc"] in ids and "|" in body["table"]


def test_submit_of_a_misspelt_optimizer_prints_the_suggestion(
    service: Service, tmp_path: Path
) -> None:
    misspelt = QUICK | {"optimizer": {"name": "adammax"}, "epoch": 3}
    refused = adamlab("submit", str(spec_file(tmp_path, misspelt)), server=service.base_url)
    assert refused.returncode == 2
    assert "optimizer.name:" in refused.stderr and "did you mean 'adamax'?" in refused.stderr
    assert "epoch: Unknown field 'epoch'; did you mean 'epochs'?" in refused.stderr


def test_logs_prints_the_runs_last_lines(
    service: Service, quick_runs: list[dict[str, Any]]
) -> None:
    run = quick_runs[0]
    printed = adamlab("logs", run["id"], server=service.base_url)
    assert printed.returncode == 0, printed.stderr
    assert f"experiment {run['id']}: attempt 1" in printed.stdout
    assert "epoch 2/2: train_loss" in printed.stdout
    last = adamlab("logs", run["id"], "--lines", "1", server=service.base_url)
    assert last.stdout.splitlines()[0].startswith("(older lines not shown")
    assert last.stdout.splitlines()[1] == printed.stdout.splitlines()[-1]
    bad = adamlab("logs", run["id"], "--lines", "0", server=service.base_url)
    assert bad.returncode == 2 and "argument --lines: a whole number from 1 to 2000" in bad.stderr


def test_plot_writes_the_learning_curves(
    service: Service, quick_runs: list[dict[str, Any]], tmp_path: Path
) -> None:
    from matplotlib.image import imread

    output = tmp_path / "curves.png"
    done = adamlab("plot", quick_runs[0]["id"], "-o", str(output), server=service.base_url)
    assert done.returncode == 0, done.stderr
    assert output.read_bytes().startswith(PNG_SIGNATURE)
    assert imread(output).ndim == 3
    svg = tmp_path / "curves.svg"
    assert (
        adamlab("plot", quick_runs[0]["id"], "-o", str(svg), server=service.base_url).returncode
        == 0
    )
    assert b"<svg" in svg.read_bytes()[:1000]
    wrong = adamlab(
        "plot", quick_runs[0]["id"], "-o", str(tmp_path / "c.jpg"), server=service.base_url
    )
    assert wrong.returncode == 2 and "--output must end in .png or .svg" in wrong.stderr


def test_plot_smoothing_draws_the_moving_average(
    service: Service, quick_runs: list[dict[str, Any]], tmp_path: Path
) -> None:
    plain, smooth = tmp_path / "plain.svg", tmp_path / "smooth.svg"
    run_id = quick_runs[0]["id"]
    assert adamlab("plot", run_id, "-o", str(plain), server=service.base_url).returncode == 0
    done = adamlab("plot", run_id, "-o", str(smooth), "--smoothing", "0.9",
                   server=service.base_url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = b'id="curve:Training objective per iteration:batch loss (EMA 0.9)"'
    assert line in smooth.read_bytes() and line not in plain.read_bytes()
    for bad in ("1", "-0.1", "x"):
        refused = adamlab("plot", run_id, "-o", str(smooth), "--smoothing", bad,
                          server=service.base_url)  # fmt: skip
        assert refused.returncode == 2 and "--smoothing" in refused.stderr


def test_compare_smoothing_and_x_shape_the_overlay(
    service: Service, quick_runs: list[dict[str, Any]], tmp_path: Path
) -> None:
    ids = [run["id"] for run in quick_runs]
    plain, shaped = tmp_path / "plain.svg", tmp_path / "shaped.svg"
    common = ("compare", *ids, "--metric", "batch_loss")
    assert adamlab(*common, "-o", str(plain), server=service.base_url).returncode == 0
    done = adamlab(*common, "-o", str(shaped), "--smoothing", "0.9", "--x", "examples",
                   server=service.base_url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    label = f"{quick_runs[0]['name']} ({ids[0][:8]}) (EMA 0.9)"
    line = f'id="curve:training objective per iteration (EMA 0.9):{label}"'.encode()
    assert line in shaped.read_bytes() and line not in plain.read_bytes()
    assert b"examples seen" in shaped.read_bytes() and b"examples seen" not in plain.read_bytes()
    no_figure = adamlab("compare", *ids, "--x", "epoch", server=service.base_url)
    assert no_figure.returncode == 2 and "give -o" in no_figure.stderr


def test_compare_prints_the_summary_and_writes_the_overlay(
    service: Service, quick_runs: list[dict[str, Any]], tmp_path: Path
) -> None:
    from matplotlib.image import imread

    ids = [run["id"] for run in quick_runs]
    output = tmp_path / "cmp.png"
    done = adamlab(
        "compare", *ids, "-o", str(output), "--metric", "train_loss", server=service.base_url
    )
    assert done.returncode == 0, done.stderr
    assert imread(io.BytesIO(output.read_bytes()), format="png").ndim == 3
    rows = done.stdout.splitlines()[1:]
    assert [row.split()[0] for row in rows] == ids
    for row, run in zip(rows, quick_runs, strict=True):
        assert f"{run['final_metrics']['test_acc']:.4f}" in row and row.endswith(run["name"])

    bad_metric = adamlab(
        "compare", *ids, "-o", str(output), "--metric", "nope", server=service.base_url
    )
    assert bad_metric.returncode == 2 and "metric: unknown metric 'nope'" in bad_metric.stderr


def test_checkpoint_downloads_the_final_weights(
    service: Service, quick_runs: list[dict[str, Any]], tmp_path: Path
) -> None:
    output = tmp_path / "weights.safetensors"
    done = adamlab("checkpoint", quick_runs[0]["id"], "-o", str(output), server=service.base_url)
    assert done.returncode == 0, done.stderr
    # safetensors: an 8-byte little-endian header length, then the JSON header.
    content = output.read_bytes()
    header_length = int.from_bytes(content[:8], "little")
    header = json.loads(content[8 : 8 + header_length])
    assert json.loads(header["__metadata__"]["spec"]) == quick_runs[0]["spec"]
    assert {"linear.weight", "linear.bias"} <= set(header)
    assert not list(tmp_path.glob(".*.part"))
    refused = adamlab("checkpoint", "nope", "-o", str(tmp_path / "x.safetensors"),
                      server=service.base_url)  # fmt: skip
    assert refused.returncode == 2 and "HTTP 404" in refused.stderr
    assert not (tmp_path / "x.safetensors").exists() and not list(tmp_path.glob(".*.part"))


def test_no_server_exits_3(tmp_path: Path) -> None:
    done = adamlab("list", server=f"http://127.0.0.1:{free_port()}", timeout_s=60)
    assert done.returncode == 3
    assert "no adamlab server answered at http://127.0.0.1:" in done.stderr
