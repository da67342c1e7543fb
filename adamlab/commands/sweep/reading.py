"""adamlab sweep list and adamlab sweep show ID: the sweeps on a service, and one of them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from adamlab.commands._remote import (
    EXIT_OK,
    UsageError,
    add_server_arguments,
    print_json,
    remote_command,
)
from adamlab.commands.sweep import _text

LIST_HEADER = ("id", "name", "status", "method", "members", "best")


def register(subparsers: argparse._SubParsersAction) -> None:
    listing = subparsers.add_parser(
        "list",
        help="list sweeps",
        description="The sweeps, newest first, one line each: id, name, status, method, "
        "members ended out of all, and the best value of the metric with its "
        "configuration. Exit codes: 0 listed; 2 the server refused the request; 3 no "
        "server answered.",
    )
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument(
        "--json", action="store_true", help="print the sweeps as one JSON array (the API's)"
    )
    add_server_arguments(listing)
    listing.set_defaults(func=_list, command="sweep list")

    showing = subparsers.add_parser(
        "show",
        help="show one sweep",
        description="One sweep: its status, members by status, progress with an ETA, the "
        "metric and the best configuration so far. Exit codes: 0 shown; 2 the server "
        "refused the request (an unknown id); 3 no server answered.",
    )
    showing.add_argument("id", metavar="ID", help="sweep id")
    showing.add_argument("--json", action="store_true", help="print the API's JSON instead")
    add_server_arguments(showing)
    showing.set_defaults(func=_show, command="sweep show")


@remote_command
def _list(args: argparse.Namespace, client: Any) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    sweeps: list[dict[str, Any]] = []
    for sweep in client.sweeps.iter_all():
        sweeps.append(sweep)
        if len(sweeps) >= args.limit:
            break
    if args.json:
        print(json.dumps(sweeps, indent=2, sort_keys=True))
        return EXIT_OK
    rows = [
        [
            sweep["id"],
            sweep.get("name", ""),
            sweep["status"],
            sweep.get("method", "?"),
            f"{_text.ended(sweep)}/{_text.member_count(sweep)}",
            _best_cell(sweep),
        ]
        for sweep in sweeps
    ]
    for line in _text.table(LIST_HEADER, rows):
        print(line)
    return EXIT_OK


def _best_cell(sweep: dict[str, Any]) -> str:
    found = sweep.get("best")
    if not found or found.get("value") is None:
        return "-"
    config = _text.configuration(found.get("params") or {})
    return _text.number(found["value"]) + (f" ({config})" if config else "")


@remote_command
def _show(args: argparse.Namespace, client: Any) -> int:
    sweep = client.sweeps.get(args.id)
    if args.json:
        print_json(sweep)
        return EXIT_OK
    for line in describe(sweep):
        print(line)
    return EXIT_OK


def describe(sweep: dict[str, Any]) -> list[str]:
    """``sweep show``'s lines."""
    metric = sweep.get("metric") or {}
    progress = sweep.get("progress") or {}
    fraction = progress.get("fraction")
    done = "-" if fraction is None else f"{100 * fraction:.0f}%"
    if sweep["status"] == "running" and progress.get("eta_s") is not None:
        done += f", about {_text.duration(progress['eta_s'])} left"
    created = f"created {_text.local_time(sweep.get('created_at'))}"
    if sweep.get("finished_at"):
        created += f", finished {_text.local_time(sweep['finished_at'])}"
    return [
        f"sweep {sweep['id']} ({sweep.get('name', '')})",
        f"  status    {sweep['status']}, {sweep.get('method', '?')} search, {created}",
        f"  metric    {metric.get('name', '?')}, {metric.get('goal') or 'its own direction'}",
        f"  members   {_text.counts(sweep)}",
        f"  progress  {done}",
        f"  best      {_text.best(sweep, detail=True).removeprefix('best ')}",
    ]
