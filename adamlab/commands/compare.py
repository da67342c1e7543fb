"""adamlab compare ID ID ... [-o cmp.png]: several experiments side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from adamlab.commands._remote import (
    EXIT_OK,
    UsageError,
    add_server_arguments,
    print_json,
    remote_command,
)
from adamlab.commands.plot import add_smoothing_arguments, image_format_of

SUMMARY_COLUMNS = ("test_acc", "test_loss", "train_loss")
X_AXES = ("iteration", "epoch", "examples")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare experiments: a summary table, or overlaid curves with -o"
    )
    parser.add_argument("ids", nargs="+", metavar="ID", help="experiment ids (two or more)")
    parser.add_argument("-o", "--output", type=Path, help="write the overlay to .png or .svg")
    parser.add_argument(
        "--metric",
        action="append",
        help="curve to overlay, e.g. train_loss (repeat for a panel each; default test_acc)",
    )
    add_smoothing_arguments(parser)
    parser.add_argument(
        "--x",
        choices=X_AXES,
        help="x axis of every panel of the overlay: iteration, epoch or examples (training "
        "examples seen); default: the epoch when batch sizes differ, else per metric",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the comparison as one JSON document (the API's: runs, best, table)",
    )
    add_server_arguments(parser)
    parser.set_defaults(func=_compare)


@remote_command
def _compare(args: argparse.Namespace, client: Any) -> int:
    if len(args.ids) < 2:
        raise UsageError("ID: give at least two experiment ids")
    if args.output is not None:
        image_format = image_format_of(args.output)
        metrics = args.metric or ["test_acc"]
        image = client.compare_plot(
            args.ids,
            metric=metrics,
            image_format=image_format,
            smoothing=args.smoothing,
            x=args.x,
        )
        args.output.write_bytes(image)
        print(f"wrote {args.output} ({len(image)} bytes)", file=sys.stderr)
    elif args.smoothing is not None or args.x is not None:
        raise UsageError("--smoothing and --x shape the overlay: give -o FILE.png or .svg")
    comparison = client.compare(args.ids)
    if args.json:
        print_json(comparison)
        return EXIT_OK
    print(f"{'id':36}  {'status':9}  " + "  ".join(f"{c:>13}" for c in SUMMARY_COLUMNS) + "  name")
    for run in comparison["experiments"]:
        metrics = run.get("final_metrics") or {}
        cells = "  ".join(
            f"{'-' if metrics.get(c) is None else format(metrics[c], '.4f'):>13}"
            for c in SUMMARY_COLUMNS
        )
        print(f"{run['id']:36}  {run['status']:9}  {cells}  {run['name']}")
    return EXIT_OK
