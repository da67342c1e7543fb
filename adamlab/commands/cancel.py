"""adamlab cancel ID: stop a queued or running experiment."""

from __future__ import annotations

import argparse
from typing import Any

from adamlab.commands._remote import EXIT_OK, add_server_arguments, remote_command


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cancel", help="cancel a queued or running experiment (exit 2 if it has finished)"
    )
    parser.add_argument("id", help="experiment id")
    add_server_arguments(parser)
    parser.set_defaults(func=_cancel)


@remote_command
def _cancel(args: argparse.Namespace, client: Any) -> int:
    experiment = client.cancel(args.id)
    print(f"{experiment['id']}: {experiment['status']}")
    return EXIT_OK
