"""``adamlab reproduce table1 --server URL``: the ten Table 1 runs on a running service.

Submits the specs of ``core/table1.py`` (no torch here: the client builds them and the
service trains them), waits with one progress bar over all of them, then prints the table
beside the published numbers and writes to ``--out``: ``table1.md``, ``summary.json``
(with each experiment's id) and the figures ``adam_vs_adamax.png`` and ``dropout.png``,
drawn by the service (``GET /v1/compare.png``).

Each submission carries an Idempotency-Key derived from the spec (and an attempt number),
so running the same command again (after Ctrl-C, or to read the table later) keeps the
runs that succeeded and waits on those still going, instead of training new ones; a run
that failed or was cancelled is trained again under the next attempt's key. It says
which, per run. ``--resubmit`` trains new ones throughout. A tenant over its cap of active
experiments (429) has its remaining submissions sent again as soon as one of its runs
here finishes, or after the Retry-After the service gave.

A run that fails before training a single step failed for a reason of the service's
setup (its data folder, its device), which every other run would meet too: the command
stops there, cancels the other runs, and says so once.
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

from adamlab.answers import ApiError
from adamlab.client import FINISHED_STATUSES, AdamlabClient
from adamlab.commands._progress import LineBar, stderr_is_terminal
from adamlab.commands._remote import StoppedWaiting
from adamlab.commands.reproduce import configs_from_args
from core.table1 import CellOutcome, Config, table1_markdown

EXIT_OK = 0
EXIT_FAILED = 1
TRAIN_AGAIN = frozenset({"failed", "cancelled"})
"""An earlier run in one of these statuses is trained again, under the next attempt's key."""
MAX_ATTEMPTS = 100

FIGURES: dict[str, tuple[str, ...]] = {
    # figure file -> the configuration keys it overlays (those run), train loss and test acc
    "adam_vs_adamax.png": ("lr-adam", "lr-adamax", "mlp-adam", "mlp-adamax", "cnn-adam",
                           "cnn-adamax"),
    "dropout.png": ("mlp-adam", "mlp-dropout-adam", "mlp-adamax", "mlp-dropout-adamax",
                    "cnn-adam", "cnn-dropout-adam", "cnn-adamax", "cnn-dropout-adamax"),
}  # fmt: skip
FIGURE_METRICS = ("train_loss", "test_acc")


def idempotency_key(config: Config, attempt: int = 1) -> str:
    """``table1-<key>-<sha256 of the spec's JSON, 24 hex>``, then ``-attempt<N>`` from the
    second attempt on: the same spec and attempt, the same key."""
    canonical = json.dumps(config.spec.model_dump(mode="json"), sort_keys=True)
    key = f"table1-{config.key}-{hashlib.sha256(canonical.encode()).hexdigest()[:24]}"
    return key if attempt == 1 else f"{key}-attempt{attempt}"


class _SetupFailure(Exception):
    """A run failed before its first step: every run of this service would."""

    def __init__(self, key: str, experiment: dict[str, Any]) -> None:
        super().__init__(key)
        self.key = key
        self.experiment = experiment


def run_on_server(args: argparse.Namespace, client: AdamlabClient) -> int:
    configs = configs_from_args(args)
    nonce = uuid.uuid4().hex[:8] if args.resubmit else None
    waiting = _Waiting(client, configs, nonce=nonce, poll_interval_s=args.poll_interval)
    try:
        experiments = waiting.run(show_progress=not args.no_progress)
    except KeyboardInterrupt:
        going = [e["id"] for e in waiting.latest.values() if e["status"] not in FINISHED_STATUSES]
        raise StoppedWaiting(going, hint="run the same command to wait for them again") from None
    except _SetupFailure as failure:
        return stop_at_setup_failure(client, waiting, failure)
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
    # One line per distinct reason, naming every run it ended.
    reasons: dict[tuple[str, str], list[str]] = {}
    for key in failed:
        reason = (experiments[key]["status"], experiments[key].get("error") or "")
        reasons.setdefault(reason, []).append(key)
    for (status, error), keys in reasons.items():
        print(f"adamlab reproduce: {', '.join(keys)} {status}: {error}", file=sys.stderr)
    if failed:
        print(
            "adamlab reproduce: run the same command to train again what failed or was "
            "cancelled (what succeeded is kept)",
            file=sys.stderr,
        )
    return EXIT_FAILED if failed else EXIT_OK


def stop_at_setup_failure(client: AdamlabClient, waiting: _Waiting, failure: _SetupFailure) -> int:
    """Cancel the command's other runs that have not ended, and say why, once."""
    others = [
        e["id"]
        for key, e in waiting.latest.items()
        if key != failure.key and e["status"] not in FINISHED_STATUSES
    ]
    for experiment_id in others:
        try:
            client.cancel(experiment_id)
        except ApiError as error:
            if error.status_code not in (404, 409):  # it ended meanwhile, or is gone
                raise
    unsent = len(waiting.unsent)
    print(
        f"adamlab reproduce: {failure.key} failed before training a step, so every run "
        f"here would: {failure.experiment.get('error') or '(no reason given)'}\n"
        f"adamlab reproduce: stopped; cancelled the {len(others)} other runs still queued "
        f"or running"
        + (f" and submitted none of the {unsent} left" if unsent else "")
        + ". Fix the cause, then run the same command again: it trains again what failed "
        "or was cancelled and keeps what succeeded.",
        file=sys.stderr,
    )
    return EXIT_FAILED


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
        self.by_key = {config.key: config for config in configs}
        self.nonce = nonce
        self.poll_interval_s = poll_interval_s
        self.latest: dict[str, dict[str, Any]] = {}
        self.unsent = list(configs)
        self.attempts = {config.key: 1 for config in configs}
        self.earlier: dict[str, dict[str, Any]] = {}
        """The last run that failed or was cancelled, of each configuration trained again."""
        self.retry_at = 0.0

    def submit_unsent(self, *, a_run_ended: bool) -> None:
        if not self.unsent or (time.monotonic() < self.retry_at and not a_run_ended):
            return
        while self.unsent:
            config = self.unsent[0]
            key = idempotency_key(config, self.attempts[config.key])
            key += f"-{self.nonce}" if self.nonce else ""
            try:
                submitted = self.client.submit_once(
                    config.spec.model_dump(mode="json"), idempotency_key=key
                )
            except ApiError as error:
                if error.status_code != 429:
                    raise
                self.retry_at = time.monotonic() + (error.retry_after_s or 60.0)
                return
            experiment = submitted.experiment
            if (
                submitted.replayed
                and experiment["status"] in TRAIN_AGAIN
                and self.attempts[config.key] < MAX_ATTEMPTS
            ):
                self.earlier[config.key] = experiment
                self.attempts[config.key] += 1
                continue
            self.latest[config.key] = experiment
            self.unsent.pop(0)
            self.tell(config.key, experiment, replayed=submitted.replayed)

    def tell(self, key: str, experiment: dict[str, Any], *, replayed: bool) -> None:
        """Say what this command did with a configuration an earlier command had run."""
        earlier = self.earlier.get(key)
        if earlier is not None and not replayed:
            message = (
                f"{key}: training again as {experiment['id']} (attempt "
                f"{self.attempts[key]}; {earlier['id']} {earlier['status']})"
            )
        elif replayed and experiment["status"] == "succeeded":
            message = f"{key}: kept {experiment['id']} (succeeded)"
        elif replayed:
            message = f"{key}: waiting on {experiment['id']} ({experiment['status']})"
        else:
            return
        from tqdm import tqdm

        tqdm.write(f"adamlab reproduce: {message}", file=sys.stderr)

    def run(self, *, show_progress: bool) -> dict[str, dict[str, Any]]:
        total = sum(expected_steps(config) for config in self.configs)
        bar = _bar(total=total, show=show_progress)
        a_run_ended = False
        try:
            while True:
                self.submit_unsent(a_run_ended=a_run_ended)
                a_run_ended = False
                for key, experiment in list(self.latest.items()):
                    if experiment["status"] not in FINISHED_STATUSES:
                        self.latest[key] = current = self.client.get(experiment["id"])
                        a_run_ended |= current["status"] in FINISHED_STATUSES
                        if current["status"] == "failed" and not current["progress"].get("step"):
                            self.draw(bar)
                            raise _SetupFailure(key, current)
                self.draw(bar)
                if not self.unsent and all(
                    e["status"] in FINISHED_STATUSES for e in self.latest.values()
                ):
                    return self.latest
                time.sleep(self.poll_interval_s)
        finally:
            bar.close()

    def draw(self, bar: Any) -> None:
        by_key = self.by_key
        # Steps done: a succeeded run's all, a running one's so far, an ended one's none.
        bar.n = sum(
            expected_steps(by_key[key])
            if e["status"] == "succeeded"
            else 0
            if e["status"] in FINISHED_STATUSES
            else (e["progress"].get("step") or 0)
            for key, e in self.latest.items()
        )
        ended = sum(e["status"] in FINISHED_STATUSES for e in self.latest.values())
        not_succeeded = sum(e["status"] in TRAIN_AGAIN for e in self.latest.values())
        bar.set_description(
            f"{ended}/{len(self.configs)} ended"
            + (f", {not_succeeded} failed or cancelled" if not_succeeded else "")
        )
        running = [
            f"{key} epoch {e['progress'].get('epoch') or 1}/{by_key[key].spec.epochs}"
            for key, e in self.latest.items()
            if e["status"] == "running"
        ]
        postfix = {"running": "; ".join(running) or "-"}
        if self.unsent:
            postfix["waiting to submit"] = str(len(self.unsent))
        if isinstance(bar, LineBar):
            bar.milestone = (ended, tuple(running), len(self.unsent))
        bar.set_postfix(postfix, refresh=False)
        bar.refresh()


class _NoBar:
    """--no-progress: the bar's calls, doing nothing."""

    n = 0

    def set_description(self, desc: str) -> None: ...

    def set_postfix(self, postfix: dict[str, Any], refresh: bool = True) -> None: ...

    def refresh(self) -> None: ...

    def close(self) -> None: ...


def _bar(*, total: int, show: bool) -> Any:
    """One bar over every run: tqdm on a terminal, plain lines otherwise."""
    if not show:
        return _NoBar()
    if not stderr_is_terminal():
        return LineBar(total=total, unit="step", desc="submitting")
    from tqdm import tqdm

    return tqdm(total=total, unit="step", file=sys.stderr, dynamic_ncols=True, desc="submitting")


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
        # Only runs that succeeded have curves worth drawing.
        ids = [
            experiments[key]["id"]
            for key in keys
            if key in experiments and experiments[key]["status"] == "succeeded"
        ]
        if len(ids) >= 2:
            image = client.compare_plot(ids, metric=FIGURE_METRICS)
            (out / name).write_bytes(image)
            written.append(name)
    return written
