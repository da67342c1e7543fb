"""adamlab wait ID...: wait for runs on a service to end, a progress bar each."""

from __future__ import annotations

import argparse
from typing import Any

from adamlab.commands._progress import wait_for_runs
from adamlab.commands._remote import (
    EXIT_EXPERIMENT_FAILED,
    EXIT_OK,
    UsageError,
    add_server_arguments,
    remote_command,
)
from adamlab.commands.submit import report_final


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "wait",
        help="wait for experiments to end, a progress bar each",
        description="Wait until every experiment named has ended, showing a progress bar "
        "for each on standard error (plain lines when it is not a terminal), then print each "
        "one's status and final metrics. A server restart is waited through (--retry-for). "
        "Exit codes: 0 every experiment succeeded; 1 one or more failed or were cancelled; "
        "2 the server refused a request (an unknown id); 3 no server answered; 130 stopped "
        "waiting (Ctrl-C; the runs continue).",
    )
    parser.add_argument("ids", nargs="+", metavar="ID", help="experiment ids")
    parser.add_argument(
        "--poll-interval", type=float, default=0.5, help="seconds between polls (default 0.5)"
    )
    add_server_arguments(parser)
    parser.set_defaults(func=_wait)


@remote_command
def _wait(args: argparse.Namespace, client: Any) -> int:
    if args.poll_interval <= 0:
        raise UsageError("--poll-interval must be positive")
    finals = wait_for_runs(client, args.ids, poll_interval_s=args.poll_interval)
    codes = [report_final(experiment) for experiment in finals]
    return EXIT_OK if all(code == EXIT_OK for code in codes) else EXIT_EXPERIMENT_FAILED
