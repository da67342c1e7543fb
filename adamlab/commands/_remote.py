"""What the commands that talk to a running service share: --server/--api-key/--retry-for,
the check of the server's URL, errors and Ctrl-C turned into messages and exit codes."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

EXIT_OK = 0
EXIT_EXPERIMENT_FAILED = 1
EXIT_BAD_REQUEST = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT), as a shell reports a command it interrupted."""


class UsageError(Exception):
    """A flag or argument of the command is wrong; the message names it."""


class StoppedWaiting(Exception):
    """Ctrl-C while waiting for runs (or for a sweep, ``sweep_id``): they go on on the
    server. The message says so and how to stop them."""

    def __init__(
        self,
        experiment_ids: Sequence[str] = (),
        *,
        hint: str | None = None,
        sweep_id: str | None = None,
    ) -> None:
        self.experiment_ids = list(experiment_ids)
        ids = " ".join(self.experiment_ids) or "ID"
        if sweep_id is not None:
            sentence = (
                f"stopped waiting; the sweep continues; `adamlab sweep cancel {sweep_id}` stops it"
            )
        elif len(self.experiment_ids) > 1:
            sentence = f"stopped waiting; the runs continue; `adamlab cancel {ids}` stops them"
        else:
            sentence = f"stopped waiting; the run continues; `adamlab cancel {ids}` stops it"
        super().__init__(sentence + (f" ({hint})" if hint else ""))


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        default=None,
        help="base URL of the adamlab API (default: $ADAMLAB_SERVER or http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--api-key", default=None, help="API key (default: $ADAMLAB_API_KEY; none on localhost)"
    )
    add_retry_argument(parser)


def add_retry_argument(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--retry-for", type=_seconds, default=None, metavar="S",
        help="retry a request for up to S seconds while the server does not answer, "
        "e.g. during a restart (default: $ADAMLAB_RETRY_FOR_S or 60; 0: never)",
    )  # fmt: skip


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def check_server_url(url: str, *, source: str) -> str:
    """``url`` when it can be the service's root; UsageError saying what to write if not.
    ``source`` names where it came from (``--server``, ``ADAMLAB_SERVER``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"{source} {url} has no http:// or https:// scheme; add it, "
            f"e.g. http://{url.split('://')[-1]}"
        )
    if parts.path.rstrip("/").endswith("/v1"):
        root = url.rstrip("/").removesuffix("/v1")
        raise UsageError(
            f"{source} {url} ends in /v1; the URL should be the service's root "
            f"(e.g. {root}): the client adds /v1/... itself"
        )
    return url


def remote_command(func: Callable[[argparse.Namespace, Any], int]) -> Callable:
    """Wrap a command's function: build the client, turn API errors, an unreachable server
    and Ctrl-C into messages and exit codes (never a traceback)."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        from adamlab.answers import ApiError, ServerUnreachable
        from adamlab.client import AdamlabClient, ClientSettings

        prefix = f"adamlab {args.command}"
        try:
            defaults = ClientSettings()
            server = check_server_url(
                args.server or defaults.server,
                source="--server" if args.server else "ADAMLAB_SERVER",
            )
            retry_for = getattr(args, "retry_for", None)
            with AdamlabClient(
                server,
                api_key=args.api_key or defaults.api_key,
                retry_for_s=defaults.retry_for_s if retry_for is None else retry_for,
                on_retry=lambda message: print(f"{prefix}: {message}", file=sys.stderr),
            ) as client:
                return func(args, client)
        except UsageError as error:
            print(f"{prefix}: {error}", file=sys.stderr)
            return EXIT_BAD_REQUEST
        except ServerUnreachable as error:
            print(f"adamlab: {error}", file=sys.stderr)
            return EXIT_UNREACHABLE
        except ApiError as error:
            print(f"adamlab: {error}{_route_hint(error)}", file=sys.stderr)
            return EXIT_BAD_REQUEST
        except StoppedWaiting as stopped:
            print(f"\n{prefix}: {stopped}", file=sys.stderr)
            return EXIT_INTERRUPTED
        except KeyboardInterrupt:
            print(f"\n{prefix}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED

    return run


def _route_hint(error: Any) -> str:
    """A 404 of no route at all (not of an unknown id) means the URL is not the root."""
    if error.status_code == 404 and error.detail == "Not Found":
        return (
            "\n  (no such route: --server should be the adamlab service's root URL, "
            "e.g. http://127.0.0.1:8000)"
        )
    return ""


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


def each_experiment(ids: Sequence[str], *, command: str, act: Callable[[str], str]) -> int:
    """``act`` on each id once, in order, printing the line it returns; a refusal of the
    server is printed on stderr, naming the id, and the others go on. EXIT_BAD_REQUEST
    when the server refused one or more, else EXIT_OK."""
    from adamlab.answers import ApiError

    refused = False
    for experiment_id in dict.fromkeys(ids):
        try:
            line = act(experiment_id)
        except ApiError as error:
            print(f"adamlab {command}: {experiment_id}: {error}", file=sys.stderr)
            refused = True
            continue
        print(line)
    return EXIT_BAD_REQUEST if refused else EXIT_OK
