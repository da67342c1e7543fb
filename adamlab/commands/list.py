"""adamlab list: the experiments on a service, newest first, one line each."""

from __future__ import annotations

import argparse
from typing import Any

from adamlab.commands._remote import EXIT_OK, UsageError, add_server_arguments, remote_command

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list", help="list experiments")
    parser.add_argument("--status", choices=STATUSES, help="only experiments in this status")
    parser.add_argument("--dataset", help="only this dataset")
    parser.add_argument("--model", help="only this model")
    parser.add_argument("--optimizer", help="only this optimizer")
    parser.add_argument("--tag", help="only experiments with this tag")
    parser.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    add_server_arguments(parser)
    parser.set_defaults(func=_list)


@remote_command
def _list(args: argparse.Namespace, client: Any) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    filters = {
        "status": args.status,
        "dataset": args.dataset,
        "model": args.model,
        "optimizer": args.optimizer,
        "tag": args.tag,
    }
    print(f"{'id':36}  {'status':9}  {'progress':8}  {'test_acc':13}  name")
    for shown, experiment in enumerate(client.iter_all(**filters), start=1):
        fraction = experiment["progress"].get("fraction")
        progress = "-" if fraction is None else f"{100 * fraction:.0f}%"
        accuracy = (experiment.get("final_metrics") or {}).get("test_acc")
        accuracy_text = "-" if accuracy is None else f"{100 * accuracy:.2f}%"
        print(
            f"{experiment['id']:36}  {experiment['status']:9}  {progress:8}  "
            f"{accuracy_text:13}  {experiment['name']}"
        )
        if shown >= args.limit:
            break
    return EXIT_OK
