"""adamlab sweep create FILE [--wait] and adamlab sweep wait ID: start a sweep on a
service, and follow it until it ends, one progress line per change."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from adamlab.commands._arguments import poll_interval, positive_int
from adamlab.commands._progress import stderr_is_terminal
from adamlab.commands._remote import (
    EXIT_EXPERIMENT_FAILED,
    EXIT_OK,
    StoppedWaiting,
    UsageError,
    add_server_arguments,
    print_json,
    remote_command,
)
from adamlab.commands.sweep import _text
from adamlab.commands.sweep._documents import read_document
from core.sweeps.presets import PRESETS

EXIT_CODES = (
    "Exit codes: 0 created (with --wait: every member succeeded or stopped early); 1 with "
    "--wait, a member failed or the sweep was cancelled; 2 the server refused the request "
    "(each field named) or an argument is wrong; 3 no server answered; 130 stopped waiting "
    "(Ctrl-C; the sweep continues)."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "create",
        help="create a sweep from a file or a preset",
        description="Create a sweep: a base experiment, the parameters it varies, seeds, "
        "a search method, a metric and an early-stopping rule (docs/sweeps.md), from FILE "
        "(JSON or YAML; - for standard input) or a --preset. Prints the sweep's id on "
        "standard output and its member count on standard error. " + EXIT_CODES,
    )
    parser.add_argument(
        "file", nargs="?", metavar="FILE", help="the sweep body, JSON or YAML (- for stdin)"
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="a ready-made sweep instead of FILE (core/sweeps/presets.py)",
    )
    parser.add_argument(
        "--seeds", type=positive_int, metavar="N", help="run every configuration with seeds 0..N-1"
    )
    parser.add_argument(
        "--group-size",
        type=positive_int,
        metavar="M",
        help="train up to M compatible members as one stacked model (1: one member per run; "
        "default: the service chooses from the model's size and the device)",
    )
    parser.add_argument(
        "--idempotency-key", help="creating again with the same key returns the same sweep"
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="follow the sweep until it ends: one line rewritten on a terminal, a plain line "
        "per change otherwise",
    )
    _add_poll_interval(parser)
    parser.add_argument(
        "--json", action="store_true", help="print the sweep as the API's JSON (at the end)"
    )
    add_server_arguments(parser)
    parser.set_defaults(func=_create, command="sweep create")

    waiting = subparsers.add_parser(
        "wait",
        help="wait for a sweep to end, one progress line per change",
        description="Follow a sweep until it is finished or cancelled, as create --wait "
        "does. Exit codes: 0 every member succeeded or stopped early; 1 a member failed or "
        "the sweep was cancelled; 2 the server refused the request (an unknown id); 3 no "
        "server answered; 130 stopped waiting (Ctrl-C; the sweep continues).",
    )
    waiting.add_argument("id", metavar="ID", help="sweep id")
    waiting.add_argument("--json", action="store_true", help="print the sweep's last state as JSON")
    _add_poll_interval(waiting)
    add_server_arguments(waiting)
    waiting.set_defaults(func=_wait, command="sweep wait")


def _add_poll_interval(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--poll-interval", type=poll_interval, default=2.0, metavar="S",
        help="seconds between polls (default 2)",
    )  # fmt: skip


def sweep_body(args: argparse.Namespace) -> dict[str, Any]:
    """The body to send: FILE's or the preset's, with --seeds and --group-size."""
    if (args.file is None) == (args.preset is None):
        raise UsageError("give FILE or --preset NAME (one of them)")
    if args.preset is not None:
        body = PRESETS[args.preset]()
    else:
        body = read_document(args.file, argument="FILE")
    if args.seeds is not None:
        body["seeds"] = args.seeds
    if args.group_size is not None:
        body["group_size"] = args.group_size
    return body


@remote_command
def _create(args: argparse.Namespace, client: Any) -> int:
    created = client.sweeps.create(sweep_body(args), idempotency_key=args.idempotency_key)
    sweep = created.sweep
    earlier = " (the sweep created earlier with this --idempotency-key)" if created.replayed else ""
    print(
        f"created sweep {sweep['id']}: {_text.member_count(sweep)} members, "
        f"{sweep.get('method', '?')}{earlier}",
        file=sys.stderr,
    )
    if not args.wait:
        if args.json:
            print_json(sweep)
        else:
            print(sweep["id"])
        return EXIT_OK
    return report_final(wait_for_sweep(client, sweep["id"], args.poll_interval), json=args.json)


@remote_command
def _wait(args: argparse.Namespace, client: Any) -> int:
    return report_final(wait_for_sweep(client, args.id, args.poll_interval), json=args.json)


def progress_line(sweep: dict[str, Any]) -> str:
    """``queued 50, running 2, done 9, stopped early 2, failed 0 (of 63); best test_acc
    0.981 (adam, lr 0.001)``."""
    return f"{_text.counts(sweep)}; {_text.best(sweep)}"


class SweepProgress:
    """The sweep's progress on standard error: on a terminal one line, rewritten (tqdm,
    with the ETA); otherwise a plain line each time the counts or the best change."""

    def __init__(self) -> None:
        self._last: str | None = None
        self._bar: Any = None
        if stderr_is_terminal():
            from tqdm import tqdm

            self._bar = tqdm(file=sys.stderr, bar_format="{desc}", dynamic_ncols=True)

    def update(self, sweep: dict[str, Any]) -> None:
        line = progress_line(sweep)
        if self._bar is not None:
            eta_s = (sweep.get("progress") or {}).get("eta_s")
            eta = f"; about {_text.duration(eta_s)} left" if eta_s is not None else ""
            self._bar.set_description_str(line + eta)
        elif line != self._last:
            print(line, file=sys.stderr, flush=True)
        self._last = line

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def wait_for_sweep(client: Any, sweep_id: str, poll_interval_s: float) -> dict[str, Any]:
    """Poll the sweep until it is finished or cancelled, showing its progress; its last
    state. Ctrl-C raises ``StoppedWaiting`` saying that the sweep goes on."""
    progress = SweepProgress()
    try:
        return client.sweeps.wait(
            sweep_id, poll_interval_s=poll_interval_s, on_update=progress.update
        )
    except KeyboardInterrupt:
        hint = f"`adamlab sweep wait {sweep_id}` follows it again"
        raise StoppedWaiting(sweep_id=sweep_id, hint=hint) from None
    finally:
        progress.close()


def report_final(sweep: dict[str, Any], *, json: bool) -> int:
    """Print how the sweep ended; EXIT_OK when every member succeeded or stopped early."""
    if json:
        print_json(sweep)
    else:
        print(f"{sweep['id']}: {sweep['status']}: {_text.counts(sweep)}")
        print(_text.best(sweep, detail=True))
    return EXIT_OK if _text.all_succeeded(sweep) else EXIT_EXPERIMENT_FAILED
