"""A sweep in words, as the ``adamlab sweep`` commands print it: its members' counts, its
best configuration, durations and the table layout."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any


def member_count(sweep: dict[str, Any]) -> int:
    """Members the sweep will have: those planned (a tpe search creates them as it goes),
    or those it has when that is more."""
    members = sweep.get("members") or {}
    return max(int(members.get("planned") or 0), int(members.get("total") or 0))


def counts(sweep: dict[str, Any]) -> str:
    """``queued 50, running 2, done 9, stopped early 2, failed 0 (of 63)``; ``done`` are
    the members that succeeded; cancelled members are counted when there are any."""
    members = sweep.get("members") or {}
    parts = [
        f"queued {members.get('queued', 0)}",
        f"running {members.get('running', 0)}",
        f"done {members.get('succeeded', 0)}",
        f"stopped early {members.get('stopped', 0)}",
        f"failed {members.get('failed', 0)}",
    ]
    if members.get("cancelled"):
        parts.append(f"cancelled {members['cancelled']}")
    return ", ".join(parts) + f" (of {member_count(sweep)})"


def ended(sweep: dict[str, Any]) -> int:
    """Members that have ended, however."""
    members = sweep.get("members") or {}
    return sum(int(members.get(key, 0)) for key in ("succeeded", "stopped", "failed", "cancelled"))


def all_succeeded(sweep: dict[str, Any]) -> bool:
    """Whether the sweep finished with every member succeeded or stopped early."""
    members = sweep.get("members") or {}
    good = int(members.get("succeeded", 0)) + int(members.get("stopped", 0))
    return sweep["status"] == "finished" and good == int(members.get("total", 0))


def metric_name(sweep: dict[str, Any]) -> str:
    return (sweep.get("metric") or {}).get("name") or "metric"


def best(sweep: dict[str, Any], *, detail: bool = False) -> str:
    """``best test_acc 0.981 (adam, lr 0.001)``; with ``detail`` the seeds its value is the
    median of, and its best member's seed and experiment."""
    found = sweep.get("best")
    if not found or found.get("value") is None:
        return f"best {metric_name(sweep)} none yet"
    text = f"best {metric_name(sweep)} {number(found['value'])}"
    words = [configuration(found.get("params") or {})] if found.get("params") else []
    if detail:
        if found.get("seeds"):
            words.append(f"median of {found['seeds']} seed{'' if found['seeds'] == 1 else 's'}")
        if found.get("seed") is not None:
            words.append(f"seed {found['seed']}")
        if found.get("experiment_id"):
            words.append(f"experiment {found['experiment_id']}")
    return text + (f" ({'; '.join(words)})" if words else "")


def configuration(params: dict[str, Any]) -> str:
    """A configuration in a few words: ``adam, lr 0.001`` for ``{"optimizer.name": "adam",
    "optimizer.lr": 0.001}``, ``mlp, dropout 0.5`` for a whole part ``{"model": {...}}``."""
    words: list[str] = []
    for path, value in params.items():
        if isinstance(value, dict):
            words += [_setting(key, item) for key, item in value.items()]
        else:
            words.append(_setting(path.rsplit(".", 1)[-1], value))
    return ", ".join(words)


def _setting(field: str, value: Any) -> str:
    if field == "name":
        return str(value)
    return f"{field} {number(value) if isinstance(value, float) else value}"


def number(value: Any) -> str:
    """A metric's or a setting's value, short: 0.981, 0.001, 1e-05."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{int(minutes // 60)} h {int(minutes % 60)} min"


def local_time(stamp: str | None) -> str:
    if not stamp:
        return "-"
    return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Lines of a table whose columns are as wide as their widest cell (the last as is)."""
    widths = [max(len(row[n]) for row in [header, *rows]) for n in range(len(header))]
    return [
        "  ".join(
            cell if n == len(header) - 1 else f"{cell:{widths[n]}}" for n, cell in enumerate(row)
        ).rstrip()
        for row in [header, *rows]
    ]
