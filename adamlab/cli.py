"""The ``adamlab`` command: one sub-command per module in ``adamlab/commands/``.

Each command module defines ``register(subparsers)``, which adds its parser and sets
``func`` (taking the parsed arguments and returning an exit code). Modules import their
heavy dependencies (torch, the worker) inside ``func``, so ``adamlab --help`` stays fast
and the client commands never load torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from adamlab import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adamlab",
        description="Optimizer experiments as a service: Adam, AdaMax and baselines.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):  # shared helpers of the commands
            continue
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader of our output went away (``adamlab list | head``): stop quietly, as
        # Python's documentation recommends, and exit as a shell reports SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13


if __name__ == "__main__":
    sys.exit(main())
