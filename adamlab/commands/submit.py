"""adamlab submit SPEC.json [--wait]: send an experiment to a running service."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from adamlab.commands._progress import wait_for_runs
from adamlab.commands._remote import (
    EXIT_EXPERIMENT_FAILED,
    EXIT_OK,
    UsageError,
    add_server_arguments,
    format_metrics,
    remote_command,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "submit",
        help="submit an experiment spec to a running service",
        description="Submit an experiment spec (a JSON file, or - for standard input). "
        "Exit codes: 0 submitted (or, with --wait, succeeded); 1 the experiment failed or "
        "was cancelled; 2 the server refused the request; 3 no server answered; 130 stopped "
        "waiting (Ctrl-C; the run continues). With --wait, a server restart is waited "
        "through (--retry-for).",
    )
    parser.add_argument("spec", help="path of the spec JSON file, or - for standard input")
    parser.add_argument(
        "--wait",
        action="store_true",
        help="show a progress bar until the experiment ends (plain lines when standard "
        "error is not a terminal)",
    )
    parser.add_argument(
        "--idempotency-key", help="resubmitting with the same key returns the same experiment"
    )
    parser.add_argument(
        "--poll-interval", type=float, default=0.5, help="seconds between polls (default 0.5)"
    )
    add_server_arguments(parser)
    parser.set_defaults(func=_submit)


def read_spec(path_text: str) -> dict[str, Any]:
    """The spec file as JSON; UsageError with a message naming the file when it is not."""
    try:
        text = sys.stdin.read() if path_text == "-" else Path(path_text).read_text()
    except OSError as error:
        raise UsageError(f"SPEC: cannot read {path_text}: {error.strerror}") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"SPEC: {path_text} is not JSON: {error.msg} "
            f"(line {error.lineno}, column {error.colno})"
        ) from None
    if not isinstance(spec, dict):
        raise UsageError(f"SPEC: {path_text} must hold a JSON object")
    return spec


@remote_command
def _submit(args: argparse.Namespace, client: Any) -> int:
    if args.poll_interval <= 0:
        raise UsageError("--poll-interval must be positive")
    spec = read_spec(args.spec)
    experiment = client.submit(spec, idempotency_key=args.idempotency_key)
    print(f"submitted {experiment['id']} ({experiment['status']})", file=sys.stderr)
    if not args.wait:
        print(experiment["id"])
        return EXIT_OK
    (final,) = wait_for_runs(client, [experiment["id"]], poll_interval_s=args.poll_interval)
    return report_final(final)


def report_final(experiment: dict) -> int:
    print(f"{experiment['id']}: {experiment['status']}")
    if experiment.get("error"):
        print(f"error: {experiment['error']}")
    if experiment.get("stop_reason"):
        print(f"stopped early: {experiment['stop_reason']}")
    print("final metrics:")
    print(format_metrics(experiment.get("final_metrics")))
    return EXIT_OK if experiment["status"] == "succeeded" else EXIT_EXPERIMENT_FAILED
