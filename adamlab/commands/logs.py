"""adamlab logs ID: the last lines a run's workers logged (epoch lines, warnings, a
failure's traceback).

    adamlab logs $ID              # the last 200 lines
    adamlab logs $ID --lines 50
"""

from __future__ import annotations

import argparse
from typing import Any

from adamlab.commands._remote import EXIT_OK, add_server_arguments, remote_command

MAX_LINES = 2_000


def _line_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LINES:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to {MAX_LINES}, not {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("logs", help="the last lines of a run's log")
    parser.add_argument("id", help="experiment id")
    parser.add_argument(
        "--lines", type=_line_count, default=200, help=f"how many (1 to {MAX_LINES}; default 200)"
    )
    add_server_arguments(parser)
    parser.set_defaults(func=_logs)


@remote_command
def _logs(args: argparse.Namespace, client: Any) -> int:
    answer = client.logs(args.id, lines=args.lines)
    if answer["truncated"]:
        print(f"(older lines not shown; --lines {MAX_LINES} shows up to {MAX_LINES})")
    for line in answer["lines"]:
        print(line)
    return EXIT_OK
