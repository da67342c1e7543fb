"""``adamlab reproduce table1 --server URL``: the ten Table 1 runs on a running service.

Submits the specs of ``core/table1.py`` (no torch here: the client builds them and the
service trains them), waits with one progress bar over all of them, then prints the table
beside the published numbers and writes to ``--out``: ``table1.md``, ``summary.json``
(with each experiment's id) and the figures ``adam_vs_adamax.png`` and ``dropout.png``,
drawn by the service (``GET /v1/compare.png``).

Each submission carries an Idempotency-Key derived from the spec, so running the same
command again (after Ctrl-C, or to read the table later) waits on the same experiments
instead of training new ones; ``--resubmit`` trains new ones. A tenant over its cap of
active experiments (429) has its remaining submissions sent again as soon as one of its
runs here finishes, or after the Retry-After the service gave.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from adamlab.client import FINISHED_STATUSES, AdamlabClient, ApiError
from adamlab.commands.reproduce import configs_from_args
from core.table1 import CellOutcome, Config, table1_markdown

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

FIGURES: dict[str, tuple[str, ...]] = {
    # figure file -> the configuration keys it overlays (those run), train loss and test acc
    "adam_vs_adamax.png": ("lr-adam", "lr-adamax", "mlp-adam", "mlp-adamax", "cnn-adam",
                           "cnn-adamax"),
    "dropout.png": ("mlp-adam", "mlp-dropout-adam", "mlp-adamax", "mlp-dropout-adamax",
                    "cnn-adam", "cnn-dropout-adam", "cnn-adamax", "cnn-dropout-adamax"),
}  # fmt: skip
FIGURE_METRICS = ("train_loss", "test_acc")


def idempotency_key(config: Config) -> str:
    """``table1-<key>-<sha256 of the spec's JSON, 24 hex>``: the same spec, the same key."""
    canonical = json.dumps(config.spec.model_dump(mode="json"), sort_keys=True)
    return f"table1-{config.key}-{hashlib.sha256(canonical.encode()).hexdigest()[:24]}"


def run_on_server(args: argparse.Namespace, client: AdamlabClient) -> int:
    configs = configs_from_args(args)
    nonce = uuid.uuid4().hex[:8] if args.resubmit else None
    waiting = _Waiting(client, configs, nonce=nonce, poll_interval_s=args.poll_interval)
    try:
        experiments = waiting.run(show_progress=not args.no_progress)
    except KeyboardInterrupt:
        print(
            "\nadamlab reproduce: stopped waiting; the experiments go on on the server. "
            "Run the same command to wait for them again.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    outcomes = [outcome(config, experiments[config.key]) for config in configs]
    devices = sorted({e["device"] for e in experiments.values() if e.get("device")})
    workers = sorted({e["worker"] for e in experiments.values() if e.get("worker")})
    machine = (
        f"the adamlab service at {client.base_url} (devices: {', '.join(devices) or '?'}; "
        f"workers: {', '.join(workers) or '?'})"
    )
    table = table1_markdown(outcomes, machine=machine)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "table1.md").write_text(table)
    (out / "summary.json").write_text(json.dumps(summary(configs, experiments), indent=1))
    figures = write_figures(client, experiments, out)
    print(table)
    print(f"wrote {out / 'table1.md'}, summary.json" + "".join(f", {f}" for f in figures),
          file=sys.stderr)  # fmt: skip
    failed = [key for key, e in experiments.items() if e["status"] != "succeeded"]
    for key in failed:
        error = experiments[key].get("error") or ""
        print(f"adamlab reproduce: {key} {experiments[key]['status']}: {error}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


class _Waiting:
    """Submits the configurations (again after a 429) and polls them until all ended."""

    def __init__(
        self,
        client: AdamlabClient,
        configs: list[Config],
        *,
        nonce: str | None,
        poll_interval_s: float,
    ) -> None:
        self.client = client
        self.configs = configs
        self.nonce = nonce
        self.poll_interval_s = poll_interval_s
        self.latest: dict[str, dict[str, Any]] = {}
        self.unsent = list(configs)
        self.retry_at = 0.0

    def submit_unsent(self, *, a_run_ended: bool) -> None:
        if not self.unsent or (time.monotonic() < self.retry_at and not a_run_ended):
            return
        while self.unsent:
            config = self.unsent[0]
            key = idempotency_key(config) + (f"-{self.nonce}" if self.nonce else "")
            try:
                experiment = self.client.submit(
                    config.spec.model_dump(mode="json"), idempotency_key=key
                )
            except ApiError as error:
                if error.status_code != 429:
                    raise
                self.retry_at = time.monotonic() + (error.retry_after_s or 60.0)
                return
            self.latest[config.key] = experiment
            self.unsent.pop(0)

    def run(self, *, show_progress: bool) -> dict[str, dict[str, Any]]:
        from tqdm import tqdm

        total = sum(expected_steps(config) for config in self.configs)
        bar = tqdm(total=total, unit="step", file=sys.stderr, dynamic_ncols=True,
                   disable=not show_progress, desc="submitting")  # fmt: skip
        a_run_ended = False
        try:
            while True:
                self.submit_unsent(a_run_ended=a_run_ended)
                a_run_ended = False
                for key, experiment in list(self.latest.items()):
                    if experiment["status"] not in FINISHED_STATUSES:
                        self.latest[key] = self.client.get(experiment["id"])
                        a_run_ended |= self.latest[key]["status"] in FINISHED_STATUSES
                self.draw(bar)
                if not self.unsent and all(
                    e["status"] in FINISHED_STATUSES for e in self.latest.values()
                ):
                    return self.latest
                time.sleep(self.poll_interval_s)
        finally:
            bar.close()

    def draw(self, bar: Any) -> None:
        by_key = {config.key: config for config in self.configs}
        bar.n = sum(
            expected_steps(by_key[key])
            if e["status"] in FINISHED_STATUSES
            else (e["progress"].get("step") or 0)
            for key, e in self.latest.items()
        )
        ended = sum(e["status"] in FINISHED_STATUSES for e in self.latest.values())
        bar.set_description(f"{ended}/{len(self.configs)} ended")
        running = [
            f"{key} epoch {e['progress'].get('epoch') or 1}/{by_key[key].spec.epochs}"
            for key, e in self.latest.items()
            if e["status"] == "running"
        ]
        postfix = {"running": "; ".join(running) or "-"}
        if self.unsent:
            postfix["waiting to submit"] = str(len(self.unsent))
        bar.set_postfix(postfix, refresh=False)
        bar.refresh()


def train_examples(config: Config) -> int:
    return config.spec.dataset.train_examples()


def expected_steps(config: Config) -> int:
    """Iterations of the run, as the engine counts them: ⌈examples / batch⌉ per epoch."""
    return config.spec.epochs * math.ceil(train_examples(config) / config.spec.dataset.batch_size)


def outcome(config: Config, experiment: dict[str, Any]) -> CellOutcome:
    succeeded = experiment["status"] == "succeeded"
    metrics = experiment.get("final_metrics") or {}
    timings = experiment["timings"]
    seconds = 0.0
    if timings.get("started_at") and timings.get("finished_at"):
        started = datetime.fromisoformat(timings["started_at"])
        seconds = (datetime.fromisoformat(timings["finished_at"]) - started).total_seconds()
    return CellOutcome(
        config=config,
        status=experiment["status"],
        test_accuracy=metrics.get("test_acc") if succeeded else None,
        epochs_completed=config.spec.epochs
        if succeeded
        else max(0, (experiment["progress"].get("epoch") or 1) - 1),
        device=experiment.get("device") or "?",
        seconds=seconds,
        train_examples=train_examples(config),
    )


def summary(configs: list[Config], experiments: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        config.key: {
            "id": experiments[config.key]["id"],
            "status": experiments[config.key]["status"],
            "seed": config.spec.seed,
            "epochs": config.spec.epochs,
            "final_metrics": experiments[config.key].get("final_metrics"),
            "error": experiments[config.key].get("error"),
        }
        for config in configs
    }


def write_figures(
    client: AdamlabClient, experiments: dict[str, dict[str, Any]], out: Path
) -> list[str]:
    """The study's comparisons, drawn by the service, for the configurations run."""
    written = []
    for name, keys in FIGURES.items():
        ids = [experiments[key]["id"] for key in keys if key in experiments]
        if len(ids) >= 2:
            image = client.compare_plot(ids, metric=FIGURE_METRICS)
            (out / name).write_bytes(image)
            written.append(name)
    return written
