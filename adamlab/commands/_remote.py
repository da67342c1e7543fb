"""What the commands that talk to a running service share: --server/--api-key, errors."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from typing import Any

EXIT_OK = 0
EXIT_EXPERIMENT_FAILED = 1
EXIT_BAD_REQUEST = 2
EXIT_UNREACHABLE = 3


class UsageError(Exception):
    """A flag or argument of the command is wrong; the message names it."""


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        default=None,
        help="base URL of the adamlab API (default: $ADAMLAB_SERVER or http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--api-key", default=None, help="API key (default: $ADAMLAB_API_KEY; none on localhost)"
    )


def remote_command(func: Callable[[argparse.Namespace, Any], int]) -> Callable:
    """Wrap a command's function: build the client, turn API errors into messages + codes."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        from adamlab.client import AdamlabClient, ApiError, ClientSettings, ServerUnreachable

        defaults = ClientSettings()
        server = args.server or defaults.server
        api_key = args.api_key or defaults.api_key
        try:
            with AdamlabClient(server, api_key=api_key) as client:
                return func(args, client)
        except UsageError as error:
            print(f"adamlab {args.command}: {error}", file=sys.stderr)
            return EXIT_BAD_REQUEST
        except ServerUnreachable as error:
            print(f"adamlab: {error}", file=sys.stderr)
            return EXIT_UNREACHABLE
        except ApiError as error:
            print(f"adamlab: {error}", file=sys.stderr)
            return EXIT_BAD_REQUEST

    return run


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def format_metrics(metrics: dict[str, float | None] | None) -> str:
    if not metrics:
        return "(none)"
    width = max(len(name) for name in metrics)
    return "\n".join(
        f"  {name:<{width}}  {_format_value(value)}" for name, value in sorted(metrics.items())
    )


def _format_value(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value != 0.0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.4e}"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
