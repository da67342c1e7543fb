"""Where a client of an event stream stands: what it has been sent, carried in every event's
``id`` so that a reconnection (``Last-Event-ID``) resumes with nothing lost or repeated.

An experiment's position is

- the last status sent, and whether ``end`` was;
- the step of the last progress sent;
- for each metric, the highest step of its points sent.

A metric's points are written in step order (a resumed run rewrites the points after its
checkpoint with identical values, never a lower step that is new), so "every point of
``name`` with step <= position[name] has been sent" holds, and the points to send are
exactly those above it: from the store for the gap, then live. Its id reads
``{status}.{progress step}.{step}={metrics},...``: ``status`` one letter (``q r s f c x``
for queued, running, succeeded, failed, cancelled, stopped; capital once ``end`` was
sent; ``-`` none yet), numbers in base 36, and each metric one character, its index in
``core.metrics.METRICS`` in base 36 (the registry only grows at its end), metrics at the
same step grouped. For example ``r.2s.2s=01,2r=2345`` is: running; progress at step 100;
``batch_loss`` and ``lr`` up to step 100, the four epoch metrics up to step 99.

A sweep's position is its own status (``r d c``: running, finished, cancelled) and each
member's position, members named by their ordinal in the sweep (by creation, then id).
Members whose final status was sent are only listed, as ranges of ordinals; members with
nothing sent but ``queued`` (which the stream does not send: a new member is queued) are
left out. Its id reads ``{status}/{members known}.{hash}/{done ranges}/{ordinal}:{member
position};...``; the hash (of the known members' ids) tells whether ordinals still name
the same experiments (a member deleted since: the stream starts over).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.metrics import METRICS

STATUS_CODES = {
    "queued": "q",
    "running": "r",
    "succeeded": "s",
    "failed": "f",
    "cancelled": "c",
    "stopped": "x",
}
STATUSES = {code: status for status, code in STATUS_CODES.items()}
SWEEP_STATUS_CODES = {"running": "r", "finished": "d", "cancelled": "c"}
SWEEP_STATUSES = {code: status for status, code in SWEEP_STATUS_CODES.items()}
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "stopped"})
NONE = "-"
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
METRIC_CODES = {name: _DIGITS[index] for index, name in enumerate(METRICS) if index < 36}
METRIC_NAMES = {code: name for name, code in METRIC_CODES.items()}


class InvalidPositionError(ValueError):
    """A Last-Event-ID that no stream of this server sent."""


def to_base36(number: int) -> str:
    if number < 0:
        raise ValueError(f"a position holds no negative number, got {number}")
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _DIGITS[digit] + digits
        if number == 0:
            return digits


def from_base36(text: str) -> int:
    if not text or any(char not in _DIGITS for char in text) or len(text) > 13:
        raise InvalidPositionError(f"not a number of a position: {text!r}")
    return int(text, 36)


def _metric_code(name: str) -> str:
    return METRIC_CODES.get(name) or f"*{name.encode().hex()}*"


def _metric_names(codes: str) -> list[str]:
    names, rest = [], codes
    while rest:
        if rest[0] == "*":
            end = rest.find("*", 1)
            if end < 0:
                raise InvalidPositionError(f"unclosed metric name in {codes!r}")
            try:
                names.append(bytes.fromhex(rest[1:end]).decode())
            except ValueError as exc:
                raise InvalidPositionError(f"bad metric name in {codes!r}") from exc
            rest = rest[end + 1 :]
        elif rest[0] in METRIC_NAMES:
            names.append(METRIC_NAMES[rest[0]])
            rest = rest[1:]
        else:
            raise InvalidPositionError(f"unknown metric code {rest[0]!r}")
    return names


@dataclass
class ExperimentPosition:
    """What one experiment's client has been sent (see the module's docstring)."""

    status: str | None = None
    ended: bool = False
    progress_step: int | None = None
    points: dict[str, int] = field(default_factory=dict[str, int])

    # --- what to send ---

    def take_status(self, status: str) -> bool:
        """Whether ``status`` is news to the client (then it counts as sent)."""
        if status == self.status:
            return False
        self.status = status
        return True

    def take_progress(self, step: int | None) -> bool:
        """Whether a progress at ``step`` is news (a progress without a step never is)."""
        if step is None or step == self.progress_step:
            return False
        self.progress_step = step
        return True

    def take_points(self, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The points above the client's position, in the order given (they count as
        sent); ``points`` itself when every one is (the common case, kept cheap: a live
        event goes to every stream)."""
        positions = self.points
        highest: dict[str, int] = {}
        every_one = True
        for point in points:
            name, step = point["name"], point["step"]
            if step <= positions.get(name, 0):
                every_one = False
            if step > highest.get(name, 0):
                highest[name] = step
        fresh = (
            points
            if every_one
            else [point for point in points if point["step"] > positions.get(point["name"], 0)]
        )
        for name, step in highest.items():
            if step > positions.get(name, 0):
                positions[name] = step
        return fresh

    # --- the id ---

    def encode(self) -> str:
        status = NONE if self.status is None else STATUS_CODES[self.status]
        if self.ended:
            status = status.upper()
        progress = "" if self.progress_step is None else to_base36(self.progress_step)
        by_step: dict[int, list[str]] = {}
        for name, step in self.points.items():
            by_step.setdefault(step, []).append(_metric_code(name))
        groups = ",".join(
            f"{to_base36(step)}={''.join(sorted(codes))}"
            for step, codes in sorted(by_step.items(), reverse=True)
        )
        return f"{status}.{progress}.{groups}"

    @classmethod
    def decode(cls, text: str) -> ExperimentPosition:
        parts = text.split(".")
        if len(parts) != 3 or len(parts[0]) != 1:
            raise InvalidPositionError(f"not an experiment position: {text!r}")
        code, progress, groups = parts
        ended = code.isupper()
        if code != NONE and code.lower() not in STATUSES:
            raise InvalidPositionError(f"unknown status code {code!r}")
        position = cls(
            status=None if code == NONE else STATUSES[code.lower()],
            ended=ended,
            progress_step=from_base36(progress) if progress else None,
        )
        for group in groups.split(",") if groups else []:
            step, equals, codes = group.partition("=")
            if not equals or not codes:
                raise InvalidPositionError(f"not a metric group: {group!r}")
            for name in _metric_names(codes):
                position.points[name] = from_base36(step)
        return position


def members_hash(experiment_ids: Sequence[str]) -> str:
    """The hash of a sweep's known members, in ordinal order, that a sweep position holds."""
    return hashlib.sha256("\n".join(experiment_ids).encode()).hexdigest()[:8]


def _ranges(ordinals: Iterable[int]) -> str:
    runs: list[list[int]] = []
    for ordinal in sorted(set(ordinals)):
        if runs and runs[-1][1] == ordinal - 1:
            runs[-1][1] = ordinal
        else:
            runs.append([ordinal, ordinal])
    return ",".join(
        to_base36(start) if start == end else f"{to_base36(start)}-{to_base36(end)}"
        for start, end in runs
    )


def _parse_ranges(text: str) -> set[int]:
    ordinals: set[int] = set()
    for run in text.split(",") if text else []:
        start, dash, end = run.partition("-")
        first, last = from_base36(start), from_base36(end) if dash else from_base36(start)
        if last < first or last - first > 1_000_000:
            raise InvalidPositionError(f"not a range of ordinals: {run!r}")
        ordinals.update(range(first, last + 1))
    return ordinals


@dataclass
class SweepPosition:
    """What one sweep's client has been sent (see the module's docstring)."""

    status: str | None = None
    ended: bool = False
    known: int = 0
    """How many members (ordinals 0..known-1) the position speaks of."""
    known_hash: str = ""
    done: set[int] = field(default_factory=set[int])
    members: dict[int, ExperimentPosition] = field(default_factory=dict[int, ExperimentPosition])

    def finish_member(self, ordinal: int) -> None:
        """The member's final status was sent."""
        self.members.pop(ordinal, None)
        self.done.add(ordinal)

    def take_status(self, status: str) -> bool:
        if status == self.status:
            return False
        self.status = status
        return True

    def encode(self) -> str:
        status = NONE if self.status is None else SWEEP_STATUS_CODES[self.status]
        if self.ended:
            status = status.upper()
        members = ";".join(
            f"{to_base36(ordinal)}:{position.encode()}"
            for ordinal, position in sorted(self.members.items())
            if position != ExperimentPosition(status="queued")
        )
        return f"{status}/{to_base36(self.known)}.{self.known_hash}/{_ranges(self.done)}/{members}"

    @classmethod
    def decode(cls, text: str) -> SweepPosition:
        parts = text.split("/")
        if len(parts) != 4 or len(parts[0]) != 1:
            raise InvalidPositionError(f"not a sweep position: {text!r}")
        code, known, done, members = parts
        if code != NONE and code.lower() not in SWEEP_STATUSES:
            raise InvalidPositionError(f"unknown sweep status code {code!r}")
        count, dot, known_hash = known.partition(".")
        if not dot:
            raise InvalidPositionError(f"not a count of members: {known!r}")
        position = cls(
            status=None if code == NONE else SWEEP_STATUSES[code.lower()],
            ended=code.isupper(),
            known=from_base36(count),
            known_hash=known_hash,
            done=_parse_ranges(done),
        )
        for entry in members.split(";") if members else []:
            ordinal, colon, member = entry.partition(":")
            if not colon:
                raise InvalidPositionError(f"not a member position: {entry!r}")
            position.members[from_base36(ordinal)] = ExperimentPosition.decode(member)
        if any(ordinal >= position.known for ordinal in position.done | set(position.members)):
            raise InvalidPositionError("a member beyond the members known")
        return position
