"""adamlab checkpoint ID -o weights.safetensors: download an experiment's final weights."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from adamlab.commands._remote import EXIT_OK, UsageError, add_server_arguments, remote_command


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "checkpoint",
        help="download a succeeded experiment's final weights (safetensors)",
        description="Download the final weights of a succeeded experiment as a safetensors "
        "file; its metadata holds the spec ('spec', JSON), so worker.models.build_model "
        "rebuilds the model to load them into.",
    )
    parser.add_argument("id", help="experiment id")
    parser.add_argument(
        "-o", "--output", required=True, type=Path, help="file to write, ending .safetensors"
    )
    add_server_arguments(parser)
    parser.set_defaults(func=_checkpoint)


@remote_command
def _checkpoint(args: argparse.Namespace, client: Any) -> int:
    if args.output.suffix != ".safetensors":
        raise UsageError(f"--output must end in .safetensors (got {args.output.name})")
    written = client.download_checkpoint(args.id, args.output)
    print(f"wrote {args.output} ({written} bytes)", file=sys.stderr)
    return EXIT_OK
