"""A sweep's report as CSV: one row per configuration, in rank order, for a spreadsheet or
pandas. A cell is empty where a value is missing or not finite; a float is written in full
(``repr``: it reads back as the same number), a string as it is, anything else as JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.sweeps.report import SweepReport

ESTIMATE_COLUMNS = ("median", "iqm", "mean", "ci_low", "ci_high")
TIME_COLUMNS = ("reached", "steps_to_target", "examples_to_target", "seconds_to_target")
"""With a target: how many members reached it, and the configuration's median steps,
examples and seconds to it (``core.sweeps.timing.ConfigurationTimes``)."""


def csv_columns(report: SweepReport) -> list[str]:
    """rank, config_key, each swept param (first seen first), optimizer, lr, task, n,
    ``seed_<s>`` for every seed that counts somewhere (ascending), median, iqm, mean,
    ci_low, ci_high and, with a target, ``TIME_COLUMNS``."""
    params = list(dict.fromkeys(key for c in report.configurations for key in c.params))
    seeds = sorted({s for c in report.configurations for s in c.seed_values()})
    columns = ["rank", "config_key", *params, "optimizer", "lr", "task", "n"]
    columns += [f"seed_{s}" for s in seeds] + list(ESTIMATE_COLUMNS)
    return columns + list(TIME_COLUMNS if report.time_to_target is not None else ())


def cell(value: object) -> str:
    """One CSV cell (see the module's docstring)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, sort_keys=True)


def report_csv(report: SweepReport) -> str:
    """The rows of ``report.configurations`` under ``csv_columns(report)``: each seed's
    final value under ``seed_<s>`` (empty for a seed that does not count)."""
    times = {t.config_key: t for t in report.time_to_target or []}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=csv_columns(report), lineterminator="\n")
    writer.writeheader()
    for config in report.configurations:
        row = {key: cell(value) for key, value in config.params.items()}
        row.update({f"seed_{seed}": cell(value) for seed, value in config.seed_values().items()})
        for name in ("rank", "config_key", "optimizer", "lr", "task", "n", *ESTIMATE_COLUMNS):
            row[name] = cell(getattr(config, name))
        timed = times.get(config.config_key)
        if timed is not None:
            row["reached"] = cell(timed.reached)
            row["steps_to_target"] = cell(timed.steps_median)
            row["examples_to_target"] = cell(timed.examples_median)
            row["seconds_to_target"] = cell(timed.seconds_median)
        writer.writerow(row)
    return buffer.getvalue()
