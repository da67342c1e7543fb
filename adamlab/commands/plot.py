"""adamlab plot ID -o curves.png: the learning curves of one experiment, drawn by the server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from adamlab.commands._remote import EXIT_OK, UsageError, add_server_arguments, remote_command

IMAGE_FORMATS = ("png", "svg")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plot", help="save an experiment's learning curves (PNG/SVG)")
    parser.add_argument("id", help="experiment id")
    parser.add_argument(
        "-o", "--output", required=True, type=Path, help="file to write, ending .png or .svg"
    )
    add_smoothing_arguments(parser)
    add_server_arguments(parser)
    parser.set_defaults(func=_plot)


def add_smoothing_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--smoothing",
        type=_smoothing,
        metavar="F",
        help="draw the batch loss (per iteration) faint, with its exponential moving "
        "average over it (0 <= F < 1, e.g. 0.9; default none)",
    )


def _smoothing(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        message = f"expected a number from 0 to below 1, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def image_format_of(path: Path) -> str:
    image_format = path.suffix.lower().lstrip(".")
    if image_format not in IMAGE_FORMATS:
        raise UsageError(f"--output must end in .png or .svg (got {path.name})")
    return image_format


@remote_command
def _plot(args: argparse.Namespace, client: Any) -> int:
    image = client.plot(
        args.id, image_format=image_format_of(args.output), smoothing=args.smoothing
    )
    args.output.write_bytes(image)
    print(f"wrote {args.output} ({len(image)} bytes)", file=sys.stderr)
    return EXIT_OK
