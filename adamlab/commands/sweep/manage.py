"""adamlab sweep cancel ID..., adamlab sweep delete ID... and adamlab sweep extend ID: stop
sweeps, remove them with their members, or give one more seeds, values or members."""

from __future__ import annotations

import argparse
from typing import Any

from adamlab.commands._arguments import positive_int
from adamlab.commands._remote import (
    EXIT_OK,
    UsageError,
    add_server_arguments,
    each_experiment,
    print_json,
    remote_command,
)
from adamlab.commands.sweep import _text
from adamlab.commands.sweep._documents import read_document


def register(subparsers: argparse._SubParsersAction) -> None:
    for name, func, help_text, description in (
        ("cancel", _cancel, "cancel sweeps and every member still queued or running",
         "Cancel each sweep named: no member of it starts any more, and those running stop. "
         "Prints each one's answer. Exit codes: 0 every request was accepted;"),
        ("delete", _delete,
         "delete sweeps with every member, its curves, checkpoints, weights and log",
         "Delete each sweep named with every member (as adamlab delete does for an "
         "experiment; a running member stops within about a second). Exit codes: 0 every "
         "sweep was deleted;"),
    ):  # fmt: skip
        parser = subparsers.add_parser(
            name,
            help=help_text,
            description=f"{description} 2 the server refused one or more (each is named); "
            "3 no server answered.",
        )
        parser.add_argument("ids", nargs="+", metavar="ID", help="sweep ids")
        add_server_arguments(parser)
        parser.set_defaults(func=func, command=f"sweep {name}")

    extending = subparsers.add_parser(
        "extend",
        help="add seeds, parameter values or members to a sweep",
        description="Add members to a sweep; those it has are kept. --seeds N: every "
        "configuration with seeds 0..N-1 (more than it has); --parameters FILE: entries "
        "(JSON or YAML, - for stdin) that replace the sweep's of the same path, or add a "
        'path, e.g. {"optimizer.lr": {"values": [0.001, 0.003, 0.01]}}; --max-members N: '
        "a larger bound of a random, sobol or tpe search. Prints how many members were "
        "added. Exit codes: 0 extended; 2 the server refused the request (each field "
        "named) or an argument is wrong; 3 no server answered.",
    )
    extending.add_argument("id", metavar="ID", help="sweep id")
    extending.add_argument("--seeds", type=positive_int, metavar="N", help="seeds 0..N-1 in all")
    extending.add_argument(
        "--max-members", type=positive_int, metavar="N", help="members of the search in all"
    )
    extending.add_argument(
        "--parameters", metavar="FILE", help="parameter entries, JSON or YAML (- for stdin)"
    )
    extending.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    add_server_arguments(extending)
    extending.set_defaults(func=_extend, command="sweep extend")


@remote_command
def _cancel(args: argparse.Namespace, client: Any) -> int:
    def cancel(sweep_id: str) -> str:
        sweep = client.sweeps.cancel(sweep_id)
        return f"{sweep['id']}: {sweep['status']} ({_text.counts(sweep)})"

    return each_experiment(args.ids, command="sweep cancel", act=cancel)


@remote_command
def _delete(args: argparse.Namespace, client: Any) -> int:
    def delete(sweep_id: str) -> str:
        client.sweeps.delete(sweep_id)
        return f"{sweep_id}: deleted, with its members"

    return each_experiment(args.ids, command="sweep delete", act=delete)


@remote_command
def _extend(args: argparse.Namespace, client: Any) -> int:
    if args.seeds is None and args.max_members is None and args.parameters is None:
        raise UsageError("nothing to extend: give --seeds, --parameters or --max-members")
    parameters = (
        None if args.parameters is None else read_document(args.parameters, argument="--parameters")
    )
    sweep = client.sweeps.extend(
        args.id, seeds=args.seeds, parameters=parameters, max_members=args.max_members
    )
    if args.json:
        print_json(sweep)
        return EXIT_OK
    added = sweep.get("added", 0)
    print(
        f"{sweep['id']}: added {added} member{'' if added == 1 else 's'} "
        f"({_text.member_count(sweep)} in all; {sweep['status']})"
    )
    return EXIT_OK
