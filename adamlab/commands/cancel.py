"""adamlab cancel ID...: stop queued or running experiments."""

from __future__ import annotations

import argparse
from typing import Any

from adamlab.commands._remote import add_server_arguments, each_experiment, remote_command


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
    def cancel(experiment_id: str) -> str:
        experiment = client.cancel(experiment_id)
        active = experiment["status"] in ("queued", "running")
        asked = " (stop requested)" if experiment.get("cancel_requested") and active else ""
        return f"{experiment['id']}: {experiment['status']}{asked}"

    return each_experiment(args.ids, command="cancel", act=cancel)
