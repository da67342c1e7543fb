"""Schema fuzzing of the live service: thousands of schemathesis cases against
``adamlab serve`` on SQLite and on PostgreSQL, with a valid key and without one.

    .venv/bin/python benchmarks/fuzz_api.py                       # both stores, 200 per operation
    .venv/bin/python benchmarks/fuzz_api.py --store sqlite --examples-per-operation 50
    .venv/bin/python benchmarks/fuzz_api.py --seed 7 --json fuzz.json

For each store it starts ``adamlab serve`` (its own private Redis, a worker, uvicorn) on a
temporary state folder: SQLite there, or a new database on ``--postgres-url`` (dropped at
the end). It creates an API key first, so the service requires keys, and two experiments
(one finished, one queued) whose ids half the cases of a ``{experiment_id}`` path use.
Then every operation of the service's /openapi.json gets ``--examples-per-operation``
cases with the key and as many without (tests/support/fuzz.py: the checks are
not_a_server_error, status code, media type, headers and body conformance).

It prints, per store and key, and in total: cases, responses by status class, answers >=
500, schema violations, and each distinct finding with the requests that met it. Exit
status 1 when there is any finding.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks._common import adamlab_serve, serve_env  # noqa: E402
from tests.support.fuzz import FuzzReport, fuzz  # noqa: E402

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432"
FINISHED_RUN = {
    "name": "fuzz-finished",
    "dataset": {"name": "digits"},
    "model": {"name": "logistic_regression"},
    "epochs": 1,
    "device": "cpu",
}
PARKED_RUN = FINISHED_RUN | {"name": "fuzz-parked", "device": "cuda"}  # no gpu worker: stays queued
SAMPLE_REQUESTS = 3
"""Requests shown for each distinct finding."""


def _command(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "adamlab.cli", *argv],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


@contextlib.contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on ``server_url``; its SQLAlchemy URL. Dropped afterwards."""
    import psycopg

    name = f"adamlab_fuzz_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(f"{server_url}/postgres", autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server_url}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(f"{server_url}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def keyed_service(state: Path, database_url: str | None) -> Iterator[tuple[str, str]]:
    """``adamlab serve`` on ``state`` (SQLite there when ``database_url`` is None), with
    one API key made before it starts, so that it requires keys; (its URL, the key)."""
    env = serve_env(state)
    for variable in ("REDIS_URL", "ADAMLAB_AUTH", "ADAMLAB_MAX_ACTIVE_PER_TENANT"):
        env.pop(variable, None)
    env.pop("DATABASE_URL", None)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    _command(["migrate"], env)
    key = _command(["keys", "create", "--tenant", "fuzz"], env)
    with adamlab_serve(env) as base_url:
        yield base_url, key


def prepared_experiments(client: httpx.Client) -> list[str]:
    ids = []
    for body in (FINISHED_RUN, PARKED_RUN):
        response = client.post("/v1/experiments", json=body)
        response.raise_for_status()
        ids.append(response.json()["id"])
    deadline = time.monotonic() + 120
    while client.get(f"/v1/experiments/{ids[0]}").json()["status"] in ("queued", "running"):
        if time.monotonic() > deadline:
            raise TimeoutError("the finished experiment did not finish within 120 s")
        time.sleep(0.2)
    return ids


def figures(report: FuzzReport, seconds: float) -> dict[str, Any]:
    distinct: dict[tuple[str, str, int | None, str], list[str]] = {}
    for finding in report.findings:
        title = finding.title.splitlines()[0]
        distinct.setdefault((finding.check, finding.operation, finding.status, title), []).append(
            finding.request
        )
    return {
        "cases": report.cases,
        "seconds": round(seconds, 1),
        "responses_by_status_class": dict(sorted(report.by_status_class.items())),
        "responses_5xx": report.by_status_class["5xx"],
        "server_errors": len(report.server_errors),
        "schema_violations": len(report.violations),
        "distinct_findings": [
            {
                "check": check,
                "operation": operation,
                "status": status,
                "title": title,
                "count": len(requests),
                "requests": requests[:SAMPLE_REQUESTS],
            }
            for (check, operation, status, title), requests in distinct.items()
        ],
    }


def run_store(store: str, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        state = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="adamlab-fuzz-")))
        database_url = None
        if store == "postgres":
            database_url = stack.enter_context(postgres_database(args.postgres_url))
        base_url, key = stack.enter_context(keyed_service(state, database_url))
        client = stack.enter_context(
            httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        )
        ids = prepared_experiments(client)
        for mode, headers in (("valid-key", {"Authorization": f"Bearer {key}"}), ("no-key", {})):
            started = time.monotonic()
            report = fuzz(
                base_url,
                headers=headers,
                examples_per_operation=args.examples_per_operation,
                seed=args.seed,
                experiment_ids=ids,
                cancel=lambda experiment_id: client.post(f"/v1/experiments/{experiment_id}/cancel"),
            )
            results[mode] = figures(report, time.monotonic() - started)
            print(f"{store} {mode}: {json.dumps(results[mode], indent=2)}", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--examples-per-operation",
        type=int,
        default=200,
        help="cases per operation, store and key (default 200: 14 operations x 2 keys x 2 "
        "stores = 11,200 cases)",
    )
    parser.add_argument("--seed", type=int, help="hypothesis seed (default: derandomized)")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="server for --store postgres")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    results = {store: run_store(store, args) for store in stores}
    runs = [run for by_key in results.values() for run in by_key.values()]
    total = {
        "cases": sum(run["cases"] for run in runs),
        "responses_5xx": sum(run["responses_5xx"] for run in runs),
        "schema_violations": sum(run["schema_violations"] for run in runs),
    }
    print(f"total: {json.dumps(total)}")
    if args.json:
        args.json.write_text(json.dumps({"runs": results, "total": total}, indent=2) + "\n")
    return 1 if total["responses_5xx"] or total["schema_violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
