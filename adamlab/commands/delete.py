"""adamlab delete ID...: delete experiments, with their curves, checkpoints, weights and
logs."""

from __future__ import annotations

import argparse
from typing import Any

from adamlab.commands._remote import add_server_arguments, each_experiment, remote_command


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "delete",
        help="delete experiments and everything stored of them",
        description="Delete each experiment named, in any status, without asking: its "
        "metric points, checkpoints, final weights and log go with it, and cannot be had "
        "back. A queued one never starts; a running one stops within about a second. "
        "Prints one line per experiment deleted. Exit codes: 0 every one was deleted; 2 the "
        "server refused one or more (each is named: an unknown id is a 404); 3 no server "
        "answered.",
    )
    parser.add_argument("ids", nargs="+", metavar="ID", help="experiment ids")
    add_server_arguments(parser)
    parser.set_defaults(func=_delete)


@remote_command
def _delete(args: argparse.Namespace, client: Any) -> int:
    def delete(experiment_id: str) -> str:
        experiment = client.get(experiment_id)  # to say what was deleted
        client.delete(experiment_id)
        return f"{experiment_id}: deleted ({experiment['name']}, {experiment['status']})"

    return each_experiment(args.ids, command="delete", act=delete)
