"""adamlab show ID: one experiment's status, progress and results."""

from __future__ import annotations

import argparse
from typing import Any

from adamlab.commands._remote import EXIT_OK, add_server_arguments, print_json, remote_command


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("show", help="show one experiment (JSON)")
    parser.add_argument("id", help="experiment id")
    parser.add_argument(
        "--json", action="store_true", help="print it as one JSON document (as without it)"
    )
    add_server_arguments(parser)
    parser.set_defaults(func=_show)


@remote_command
def _show(args: argparse.Namespace, client: Any) -> int:
    print_json(client.get(args.id))
    return EXIT_OK
