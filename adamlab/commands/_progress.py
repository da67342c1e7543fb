"""Progress of runs on a service: a tqdm bar per run on a terminal, plain lines otherwise
(a log file or a CI job gets one line per change, not a stream of carriage returns); and
the wait for several runs that ``submit --wait`` and ``wait`` share."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from adamlab.commands._remote import StoppedWaiting

LINE_INTERVAL_S = 10.0
"""Plain lines: a line at every milestone (status, epoch), else at most one this often."""
RUN_BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


class LineBar:
    """The subset of tqdm's bar the commands use, written as whole lines on standard error:
    the same text tqdm would draw (``tqdm.format_meter``), one line when a milestone
    changes (the caller's ``milestone``: status, epoch, runs ended), at most one per
    ``LINE_INTERVAL_S`` otherwise, and the last state on ``close``."""

    def __init__(
        self,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        bar_format: str | None = None,
        prefix: str = "",
    ) -> None:
        self.total = total
        self.n = 0
        self.desc = desc
        self.unit = unit
        self.bar_format = bar_format
        self.prefix = prefix
        self.postfix = ""
        self.milestone: object = None
        self._started = time.monotonic()
        self._last_line = ""
        self._last_at = 0.0
        self._last_milestone: object = None
        self._closed = False

    def reset(self, total: int | None = None) -> None:
        self.total = total
        self.n = 0

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def set_postfix(self, postfix: dict[str, Any], refresh: bool = True) -> None:
        self.postfix = ", ".join(f"{key}={value}" for key, value in postfix.items())
        if refresh:
            self.refresh()

    def line(self) -> str:
        from tqdm import tqdm

        text = tqdm.format_meter(
            self.n,
            self.total,  # pyright: ignore[reportArgumentType]  (None: unknown, as tqdm takes it)
            time.monotonic() - self._started,
            prefix=self.desc,
            unit=self.unit,
            postfix=self.postfix or None,
            bar_format=self.bar_format,
        )
        return self.prefix + text

    def refresh(self, *, force: bool = False) -> None:
        now = time.monotonic()
        changed = self.milestone != self._last_milestone or not self._last_line
        if not (force or changed or now - self._last_at >= LINE_INTERVAL_S):
            return
        line = self.line()
        if force and line == self._last_line:
            return
        print(line, file=sys.stderr, flush=True)
        self._last_line, self._last_at, self._last_milestone = line, now, self.milestone

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.refresh(force=True)


def run_bar(*, label: str | None, position: int | None) -> Any:
    """A bar for one run: tqdm on a terminal, a ``LineBar`` (prefixed with ``label``) not."""
    if not stderr_is_terminal():
        prefix = f"{label} " if label else ""
        return LineBar(unit="step", desc="queued", bar_format=RUN_BAR_FORMAT, prefix=prefix)
    from tqdm import tqdm

    # No rate in the bar: steps arrive in jumps between polls, so tqdm's own rate misleads;
    # the server's ETA goes in the postfix instead.
    return tqdm(
        total=None,
        unit="step",
        file=sys.stderr,
        dynamic_ncols=True,
        desc=f"{label} queued" if label else "queued",
        position=position,
        bar_format=RUN_BAR_FORMAT,
    )


class RunProgress:
    """One run's bar: steps out of the total, status, epoch, latest batch loss, ETA."""

    def __init__(self, client: Any, experiment_id: str, *, label: str | None, position: int):
        self.client = client
        self.experiment_id = experiment_id
        self.bar = run_bar(label=label, position=position)
        # A LineBar writes the label before each line; tqdm's bar carries it in its desc.
        self.desc_prefix = f"{label} " if label and not isinstance(self.bar, LineBar) else ""

    def update(self, experiment: dict[str, Any]) -> None:
        bar = self.bar
        progress = experiment["progress"]
        if progress.get("total_steps") and bar.total != progress["total_steps"]:
            bar.reset(total=progress["total_steps"])
        if progress.get("step") is not None:
            bar.n = progress["step"]
        status = experiment["status"]
        bar.set_description(self.desc_prefix + status)
        postfix = {}
        if progress.get("epoch") is not None:
            postfix["epoch"] = f"{progress['epoch']}/{progress.get('epochs') or '?'}"
        if status == "running":
            loss = self.client.latest_value(self.experiment_id, "batch_loss")
            if loss is not None:
                postfix["loss"] = f"{loss:.4f}"
        if progress.get("eta_s") is not None:
            postfix["eta"] = f"{progress['eta_s']:.0f}s"
        if isinstance(bar, LineBar):
            bar.milestone = (status, progress.get("epoch"))
        bar.set_postfix(postfix, refresh=False)
        bar.refresh()

    def close(self) -> None:
        self.bar.close()


def wait_for_runs(
    client: Any, experiment_ids: Sequence[str], *, poll_interval_s: float
) -> list[dict[str, Any]]:
    """Poll the runs until every one has ended, a bar each; their last states, in order.
    Ctrl-C raises ``StoppedWaiting`` naming the runs still going."""
    from adamlab.client import FINISHED_STATUSES

    ids = list(dict.fromkeys(experiment_ids))
    several = len(ids) > 1
    latest: dict[str, dict[str, Any]] = {}
    bars: list[RunProgress] = []
    try:
        bars = [
            RunProgress(client, i, label=i if several else None, position=n)
            for n, i in enumerate(ids)
        ]
        while True:
            for experiment_id, bar in zip(ids, bars, strict=True):
                if latest.get(experiment_id, {}).get("status") in FINISHED_STATUSES:
                    continue
                latest[experiment_id] = client.get(experiment_id)
                bar.update(latest[experiment_id])
            if all(latest[i]["status"] in FINISHED_STATUSES for i in ids):
                return [latest[i] for i in ids]
            time.sleep(poll_interval_s)
    except KeyboardInterrupt:
        going = [i for i in ids if latest.get(i, {}).get("status") not in FINISHED_STATUSES]
        raise StoppedWaiting(going) from None
    finally:
        for bar in bars:
            bar.close()
