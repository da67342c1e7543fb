"""adamlab cancel ID...: stop queued or running experiments."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from adamlab.commands._remote import EXIT_BAD_REQUEST, EXIT_OK, add_server_arguments, remote_command


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cancel",
        help="cancel queued or running experiments",
        description="Ask the service to cancel each experiment named: a queued one never "
        "starts, a running one stops within about a second. Prints each one's answer. "
        "Exit codes: 0 every request was accepted; 2 the server refused one or more (each "
        "is named); 3 no server answered.",
    )
    parser.add_argument("ids", nargs="+", metavar="ID", help="experiment ids")
    add_server_arguments(parser)
    parser.set_defaults(func=_cancel)


@remote_command
def _cancel(args: argparse.Namespace, client: Any) -> int:
    from adamlab.answers import ApiError

    refused = False
    for experiment_id in dict.fromkeys(args.ids):
        try:
            experiment = client.cancel(experiment_id)
        except ApiError as error:
            print(f"adamlab cancel: {experiment_id}: {error}", file=sys.stderr)
            refused = True
            continue
        asked = (
            " (stop requested)"
            if experiment.get("cancel_requested")
            and (experiment["status"] in ("queued", "running"))
            else ""
        )
        print(f"{experiment['id']}: {experiment['status']}{asked}")
    return EXIT_BAD_REQUEST if refused else EXIT_OK
