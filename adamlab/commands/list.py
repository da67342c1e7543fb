"""adamlab list: the experiments on a service, newest first, one line each (or --json)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from adamlab.commands._remote import EXIT_OK, UsageError, add_server_arguments, remote_command

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "stopped")
"""``stopped``: ended early by its sweep's early-stopping rule."""
COLUMNS = (
    ("id", 36),
    ("status", 9),
    ("progress", 8),
    ("test_acc", 8),
    ("optimizer", 9),
    ("lr", 8),
    ("batch", 5),
    ("epochs", 6),
    ("created", 16),
    ("name", 0),
)
"""The table's columns and their widths (the name, last, as long as it is)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list", help="list experiments")
    repeat = " (repeat for any of several)"
    parser.add_argument(
        "--status",
        action="append",
        choices=STATUSES,
        help="only experiments in this status" + repeat,
    )
    parser.add_argument("--dataset", action="append", help="only this dataset" + repeat)
    parser.add_argument("--model", action="append", help="only this model" + repeat)
    parser.add_argument("--optimizer", action="append", help="only this optimizer" + repeat)
    parser.add_argument(
        "--tag", action="append", help="only experiments with this tag (repeat: with every one)"
    )
    parser.add_argument("--sweep", metavar="ID", help="only the members of this sweep")
    parser.add_argument(
        "--search", metavar="TEXT", help="only experiments whose name contains TEXT, ignoring case"
    )
    parser.add_argument(
        "--sort",
        default="-created_at",
        metavar="KEY",
        help="created_at, name, status, dataset, model, optimizer or a final metric "
        "(test_acc, test_loss, ...); '-' first for descending, written with '=': "
        "--sort=-test_acc, the best first, runs without it last (default -created_at)",
    )
    parser.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the experiments as one JSON array (the API's objects)",
    )
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
        "name_contains": args.search,
        "sweep": args.sweep,
        "sort": args.sort,
        "limit": min(args.limit, 500),
    }
    experiments = []
    if not args.json:
        print(_row(name for name, _width in COLUMNS))
    for experiment in client.iter_all(**filters):
        experiments.append(experiment)
        if not args.json:
            print(_row(row_cells(experiment)))
        if len(experiments) >= args.limit:
            break
    if args.json:
        print(json.dumps(experiments, indent=2, sort_keys=True))
    return EXIT_OK


def row_cells(experiment: dict[str, Any]) -> list[str]:
    """The table's cells of one experiment, in the order of ``COLUMNS``."""
    spec = experiment["spec"]
    fraction = experiment["progress"].get("fraction")
    accuracy = (experiment.get("final_metrics") or {}).get("test_acc")
    lr = spec["optimizer"].get("lr")
    created = datetime.fromisoformat(experiment["timings"]["queued_at"]).astimezone()
    return [
        experiment["id"],
        experiment["status"],
        "-" if fraction is None else f"{100 * fraction:.0f}%",
        "-" if accuracy is None else f"{100 * accuracy:.2f}%",
        spec["optimizer"]["name"],
        "-" if lr is None else f"{lr:g}",
        str(spec["dataset"].get("batch_size", "-")),
        str(spec["epochs"]),
        created.strftime("%Y-%m-%d %H:%M"),
        experiment["name"],
    ]


def _row(cells: Any) -> str:
    return "  ".join(
        f"{cell:{width}}" if width else cell
        for cell, (_name, width) in zip(cells, COLUMNS, strict=True)
    )
