"""adamlab sweep COMMAND: sweeps on a running service (``/v1/sweeps``, docs/sweeps.md).

One module per group of sub-commands, each with ``register(subparsers)`` as the top-level
commands have: ``create`` (create, wait), ``reading`` (list, show), ``manage`` (cancel,
extend), ``report``. Each sub-command sets ``command`` to its own name ("sweep create"),
so its messages start with ``adamlab sweep create:``.
"""

from __future__ import annotations

import argparse

from adamlab.commands.sweep import create, manage, reading, report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="sweeps: many experiments from one definition (create, list, show, ...)",
        description="A sweep runs a base experiment over parameter values and seeds, as "
        "members that are ordinary experiments, and ranks the configurations by a metric. "
        "Sub-commands talk to a running service (--server).",
    )
    commands = parser.add_subparsers(dest="sweep_command", metavar="COMMAND", required=True)
    for module in (create, reading, manage, report):
        module.register(commands)
