"""Kingma & Ba's section 6.4 (Figure 4, bias correction) run through the service: the
``bias-correction`` preset (``core.sweeps.presets``: the MNIST VAE, Adam with β1 ∈ {0, 0.9},
β2 ∈ {0.99, 0.999, 0.9999}, α ∈ {1e-5, ..., 1e-1}, with and without bias correction, 60
members) created on ``adamlab serve`` (the embedded default: SQLite, a private Redis, one
worker running --concurrency members at once, default 1, each with one torch thread unless
ADAMLAB_TORCH_THREADS says otherwise) or on --server, waited
on, then its figure (``GET /v1/sweeps/{id}/bias-correction.png`` and ``.svg``, after the
last epoch and after each of ``--early-epochs``, default 1) and the final loss of every
configuration written out, with the sweep's wall time.

Usage: python benchmarks/bias_correction.py [--epochs 10] [--train-limit N] [--test-limit N]
       [--early-epochs 1 ...] [--figures DIR] [--json FILE] [--server URL | --concurrency N]
       [--seeds N] [--beta1 B ...] [--beta2 B ...] [--lrs A ...]   (a part of the grid)
       python benchmarks/bias_correction.py --sweep ID (--server URL | --state DIR) ...
       draws a finished sweep's figures again (--state: ``adamlab serve`` on that state
       folder, e.g. a copy of the one a run used).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import adamlab_serve, report, serve_env, service  # noqa: E402
from core.sweeps.presets import bias_correction  # noqa: E402

POLL_S = 2.0


def wait_finished(http: httpx.Client, sweep_id: str, timeout_s: float) -> dict[str, Any]:
    """The sweep once it is no longer running; its progress printed as it goes."""
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        sweep = http.get(f"/v1/sweeps/{sweep_id}").json()
        counts = sweep["members"]
        if counts != last:
            print(time.strftime("%H:%M:%S"), counts, file=sys.stderr, flush=True)
            last = counts
        if sweep["status"] != "running":
            return sweep
        if time.monotonic() > deadline:
            raise TimeoutError(sweep)
        time.sleep(POLL_S)


def narrowed(
    body: dict[str, Any],
    *,
    beta1: list[float] | None,
    beta2: list[float] | None,
    lrs: list[float] | None,
) -> dict[str, Any]:
    """The preset's body with only the grid's β1, β2 and α given (None: all of them)."""
    parameters = body["parameters"]
    parameters["optimizer.betas"]["values"] = [
        [b1, b2]
        for b1, b2 in parameters["optimizer.betas"]["values"]
        if (beta1 is None or b1 in beta1) and (beta2 is None or b2 in beta2)
    ]
    if lrs is not None:
        parameters["optimizer.lr"]["values"] = [a for a in parameters["optimizer.lr"]["values"]
                                                if a in lrs]  # fmt: skip
    return body


def sweep_seconds(sweep: dict[str, Any]) -> float | None:
    """From the sweep's creation to its end, by the store's clock."""
    if sweep.get("finished_at") is None:
        return None
    created, ended = (datetime.fromisoformat(sweep[key]) for key in ("created_at", "finished_at"))
    return round((ended - created).total_seconds(), 1)


def final_losses(report_json: dict[str, Any]) -> list[dict[str, Any]]:
    """Per configuration: β1, β2, α, bias correction, the final test ELBO (IQM over seeds,
    its interval, each seed's) and its members' statuses."""
    rows = []
    for config in report_json["configurations"]:
        beta1, beta2 = config["params"]["optimizer.betas"]
        rows.append({
            "beta1": beta1, "beta2": beta2, "lr": config["lr"],
            "bias_correction": config["params"]["optimizer.bias_correction"],
            "test_elbo": config["iqm"], "ci": [config["ci_low"], config["ci_high"]],
            "seeds": {m["seed"]: m["final"] for m in config["members"]},
            "statuses": [m["status"] for m in config["members"]],
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Kingma & Ba's bias-correction grid")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-limit", type=int, help="the first N training images only")
    parser.add_argument("--test-limit", type=int, help="the first N test images only")
    parser.add_argument("--figures", type=Path, help="write bias-correction.png/.svg here")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--server", help="a running service instead of adamlab serve")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="members adamlab serve's worker trains at once (default 1; 2 on 2 cores)",
    )
    parser.add_argument(
        "--early-epochs", type=int, nargs="*", default=[1], help="also draw after these epochs"
    )
    parser.add_argument("--timeout-s", type=float, default=6 * 3600)
    parser.add_argument(
        "--sweep",
        help="draw this finished sweep of --server (or of --state) instead of running one",
    )
    parser.add_argument("--state", type=Path, help="with --sweep: serve this state folder")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 of each configuration")
    parser.add_argument("--beta1", type=float, nargs="+", help="only these β1 of the grid")
    parser.add_argument("--beta2", type=float, nargs="+", help="only these β2 of the grid")
    parser.add_argument("--lrs", type=float, nargs="+", help="only these α of the grid")
    args = parser.parse_args()
    if args.concurrency < 1:
        parser.error(f"--concurrency must be at least 1, got {args.concurrency}")
    body = narrowed(
        bias_correction(
            seeds=args.seeds,
            epochs=args.epochs,
            train_limit=args.train_limit,
            test_limit=args.test_limit,
        ),
        beta1=args.beta1,
        beta2=args.beta2,
        lrs=args.lrs,
    )
    figures: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores",
        "torch_threads": os.environ.get("ADAMLAB_TORCH_THREADS", "1"),
        "concurrency": None if args.server else args.concurrency,
        "epochs": args.epochs,
        "train_limit": args.train_limit,
        "test_limit": args.test_limit,
    }
    served = (
        adamlab_serve(serve_env(args.state))
        if args.state is not None
        else service(args.server, state_prefix="adamlab-bench-bias-", concurrency=args.concurrency)
    )
    with served as base_url, httpx.Client(base_url=base_url, timeout=120) as http:
        if args.sweep is None:
            started = time.perf_counter()
            created = http.post("/v1/sweeps", json=body)
            created.raise_for_status()
            sweep_id = created.json()["id"]
            done = wait_finished(http, sweep_id, args.timeout_s)
            figures["wall_s"] = round(time.perf_counter() - started, 1)
        else:
            sweep_id = args.sweep
            done = http.get(f"/v1/sweeps/{sweep_id}").json()
            figures |= {key: done["spec"]["base"]["dataset"][key] for key in
                        ("train_limit", "test_limit")}  # fmt: skip
            figures["epochs"] = done["spec"]["base"]["epochs"]
        figures["sweep_seconds"] = sweep_seconds(done)
        figures["sweep_id"] = sweep_id
        figures["members"] = done["members"]
        figures["configurations"] = final_losses(http.get(f"/v1/sweeps/{sweep_id}/report").json())
        if args.figures is not None:
            args.figures.mkdir(parents=True, exist_ok=True)
            for suffix, epoch in itertools.product(("png", "svg"), (None, *args.early_epochs)):
                answer = http.get(
                    f"/v1/sweeps/{sweep_id}/bias-correction.{suffix}",
                    params={} if epoch is None else {"epoch": epoch},
                )
                answer.raise_for_status()
                name = "bias-correction" + ("" if epoch is None else f"-epoch{epoch}")
                (args.figures / f"{name}.{suffix}").write_bytes(answer.content)
    report(figures, args.json)


if __name__ == "__main__":
    main()
