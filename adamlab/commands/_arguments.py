"""Argument types the commands share (counts, seconds)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """argparse's type of a count (``--seeds N``, ``--max-members N``): 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def poll_interval(text: str) -> float:
    """argparse's type of ``--poll-interval S``: seconds, more than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value
