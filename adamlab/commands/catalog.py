"""adamlab catalog: what a spec may name (datasets, models, optimizers, schedules), each
with its parameters, defaults and bounds, as the service reports them (GET /v1/catalog)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from adamlab.commands._remote import EXIT_OK, add_server_arguments, print_json, remote_command

SECTIONS = (
    ("datasets", "dataset"),
    ("models", "model"),
    ("optimizers", "optimizer"),
    ("schedules", "schedule"),
)
_BOUNDS = (
    ("minimum", ">="),
    ("exclusive_minimum", ">"),
    ("maximum", "<="),
    ("exclusive_maximum", "<"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "catalog",
        help="list the datasets, models, optimizers and schedules a spec may name",
        description="Print the service's catalog: each dataset, model, optimizer and "
        "schedule a spec may name, with its parameters (type, default, bounds, choices), and "
        "the spec's own top-level fields. --json prints the raw document of GET /v1/catalog.",
    )
    parser.add_argument("--json", action="store_true", help="the raw JSON document")
    add_server_arguments(parser)
    parser.set_defaults(func=_catalog)


@remote_command
def _catalog(args: argparse.Namespace, client: Any) -> int:
    catalog = client.catalog()
    if args.json:
        print_json(catalog)
    else:
        print(format_catalog(catalog))
    return EXIT_OK


def format_catalog(catalog: dict[str, Any]) -> str:
    lines: list[str] = []
    for section, field in SECTIONS:
        lines.append(f'{section} (the spec\'s "{field}": {{"name": ...}})')
        for component in catalog.get(section, []):
            summary = (component.get("description") or "").split("\n\n", 1)[0]
            lines.append(f"  {component['name']}: {' '.join(summary.split())}")
            lines += _params(component.get("params", []), indent="      ")
        lines.append("")
    lines.append("experiment (the spec's top-level fields)")
    lines += _params(catalog.get("experiment", []), indent="  ")
    return "\n".join(lines)


def _params(params: list[dict[str, Any]], *, indent: str) -> list[str]:
    if not params:
        return [f"{indent}(no parameters)"]
    width = max(len(param["name"]) for param in params)
    return [f"{indent}{param['name']:<{width}}  {_describe(param)}" for param in params]


def _describe(param: dict[str, Any]) -> str:
    parts = [param.get("type") or "?"]
    if param.get("required"):
        parts.append("required")
    else:
        parts.append(f"default {json.dumps(param.get('default'))}")
    bounds = [f"{op} {_number(param[key])}" for key, op in _BOUNDS if param.get(key) is not None]
    if bounds:
        parts.append(", ".join(bounds))
    if param.get("choices"):
        parts.append("one of " + ", ".join(str(choice) for choice in param["choices"]))
    return "; ".join(parts)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
