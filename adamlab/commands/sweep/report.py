"""adamlab sweep report ID -o DIR: the sweep's report (its configurations ranked across
seeds) as JSON, CSV, PNG and SVG files, and its top rows printed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from adamlab.commands._arguments import positive_int
from adamlab.commands._remote import EXIT_OK, UsageError, add_server_arguments, remote_command
from adamlab.commands.sweep import _text

REPORT_FILES = ("report.json", "report.csv", "report.png", "report.svg")
HEADER = ("rank", "configuration", "median", "IQM", "95% CI", "n")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write a sweep's report (JSON, CSV, PNG, SVG) and print its ranking",
        description="Fetch the sweep's report, its configurations ranked by the metric "
        "across seeds (median, interquartile mean, a 95% bootstrap confidence interval, "
        "members counted), and write report.json, report.csv, report.png and report.svg "
        "into DIR (made if missing; files of those names are replaced). Prints the "
        "ranking's top rows. Exit codes: 0 written; 2 the server refused a request (an "
        "unknown id) or an argument is wrong; 3 no server answered.",
    )
    parser.add_argument("id", metavar="ID", help="sweep id")
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="folder to write the files into"
    )
    parser.add_argument(
        "--target",
        type=float,
        metavar="X",
        help="a value of the metric: the report also measures when each member reached it",
    )
    parser.add_argument(
        "--top", type=positive_int, default=10, metavar="N", help="rows printed (default 10)"
    )
    add_server_arguments(parser)
    parser.set_defaults(func=_report, command="sweep report")


@remote_command
def _report(args: argparse.Namespace, client: Any) -> int:
    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--output {folder}: not a folder")
    sweeps = client.sweeps
    report = sweeps.report(args.id, target=args.target)
    contents: dict[str, str | bytes] = {
        "report.json": json.dumps(report, indent=2, sort_keys=True) + "\n",
        "report.csv": sweeps.report_csv(args.id, target=args.target),
        "report.png": sweeps.report_figure(args.id, image_format="png", target=args.target),
        "report.svg": sweeps.report_figure(args.id, image_format="svg", target=args.target),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in contents.items():
            path = folder / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
    except OSError as error:
        raise UsageError(f"--output {folder}: cannot write: {error.strerror}") from None
    print(f"wrote {', '.join(REPORT_FILES)} to {folder}", file=sys.stderr)
    rows = report.get("configurations") or []  # in rank order, those without a value last
    confidence = report.get("confidence") or 0.95
    header = [*HEADER[:4], f"{100 * confidence:g}% CI", *HEADER[5:]]
    for line in _text.table(header, [row_cells(row) for row in rows[: args.top]]):
        print(line)
    if len(rows) > args.top:
        print(f"({len(rows) - args.top} more in {folder / 'report.csv'})")
    return EXIT_OK


def row_cells(row: dict[str, Any]) -> list[str]:
    """One configuration of the report's ``configurations`` (``core.sweeps.report``'s
    ``ConfigurationResult``), as the table prints it."""
    low, high = row.get("ci_low"), row.get("ci_high")
    return [
        "-" if row.get("rank") is None else str(row["rank"]),
        _text.configuration(row.get("params") or {}),
        _value(row.get("median")),
        _value(row.get("iqm")),
        "-" if low is None or high is None else f"[{_value(low)}, {_value(high)}]",
        str(row.get("n", "-")),
    ]


def _value(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
