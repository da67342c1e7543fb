"""Every run's reproducibility record, on the live service: the worker fills it in, and
GET, the curves' CSV and the final weights' metadata carry the same record."""

from __future__ import annotations

import csv
import io
import json
import platform
import subprocess
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from safetensors import safe_open

from core.data_files import IDX_DATASETS
from tests.factories import digits_body
from tests.support.client import finished, poll_experiment, submitted_id
from tests.support.env import REPO_ROOT, SERVICE_SETTINGS

pytestmark = [pytest.mark.service, pytest.mark.slow]


def run_to_end(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    shown = poll_experiment(client, submitted_id(client, body), until=finished, timeout_s=120)
    assert shown["status"] == "succeeded", shown
    return shown


def test_a_run_records_code_libraries_device_threads_and_seeds(client: httpx.Client) -> None:
    shown = run_to_end(client, digits_body(name="env-digits", epochs=1, seed=7, device="cpu"))
    record = shown["environment"]
    head = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert record["git_commit"] == head and isinstance(record["git_dirty"], bool)
    assert record["python_version"] == platform.python_version()
    assert record["torch_version"] == torch.__version__
    assert record["numpy_version"] == np.__version__
    assert record["device"] == "cpu" and record["device_name"]
    assert record["cuda_version"] == torch.version.cuda  # pyright: ignore[reportAttributeAccessIssue]
    assert record["torch_threads"] == int(SERVICE_SETTINGS["ADAMLAB_TORCH_THREADS"])
    assert record["determinism"]["seed"] == 7
    assert record["determinism"]["deterministic_algorithms"] is False
    assert record["data_files"] == {
        "digits": f"scikit-learn {__import__('sklearn').__version__} (bundled)"
    }
    assert record["optimizer_kernels"] == "C extension"


def test_an_mnist_run_records_the_md5_of_each_file_it_read(client: httpx.Client) -> None:
    body = {
        "name": "env-mnist",
        "dataset": {"name": "mnist", "train_limit": 256, "test_limit": 256, "batch_size": 128},
        "model": {"name": "logistic_regression"},
        "epochs": 1,
        "device": "cpu",
    }
    record = run_to_end(client, body)["environment"]
    published = IDX_DATASETS["mnist"].files
    assert record["data_files"] == {f"mnist/{name}": md5 for name, md5 in published.items()}


def test_the_csv_and_the_final_weights_carry_the_record(
    client: httpx.Client, tmp_path: Any
) -> None:
    shown = run_to_end(client, digits_body(name="env-exports", epochs=1, device="cpu"))
    experiment_id = shown["id"]
    text = client.get(
        f"/v1/experiments/{experiment_id}/metrics", headers={"Accept": "text/csv"}
    ).text
    comments = [line for line in text.splitlines() if line.startswith("# ")]
    assert f"# git_commit: {shown['environment']['git_commit']}" in comments
    assert f"# torch_version: {torch.__version__}" in comments
    assert "# determinism.seed: 0" in comments
    rows = list(csv.reader(io.StringIO(text), delimiter=","))
    header_at = len(comments)
    assert rows[header_at] == ["name", "step", "epoch", "value"]
    weights = client.get(f"/v1/experiments/{experiment_id}/checkpoint")
    assert weights.status_code == 200
    path = tmp_path / "final.safetensors"
    path.write_bytes(weights.content)
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    assert json.loads(metadata["environment"]) == shown["environment"]
