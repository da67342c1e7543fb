"""The tests' reader of server-sent events (the WHATWG parsing rules, the parts a stream of
ours uses): events with their id and data as JSON, and the comment lines (heartbeats)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    kind: str
    id: str | None
    data: dict[str, Any]
    received_at: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class Comment:
    text: str
    received_at: float = field(default=0.0, compare=False)


def parse(lines: Iterator[str]) -> Iterator[Event | Comment]:
    """The events and comments of a stream's lines, as each is complete."""
    kind, event_id, data = "message", None, []
    for line in lines:
        if line == "":
            if data:
                payload = json.loads("\n".join(data))
                yield Event(kind, event_id, payload, received_at=time.time())
            kind, data = "message", []
            continue
        if line.startswith(":"):
            yield Comment(line[1:].strip(), received_at=time.time())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            kind = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value


@contextmanager
def open_stream(
    client: httpx.Client, path: str, *, last_event_id: str | None = None, read_timeout_s=30.0
) -> Iterator[tuple[httpx.Response, Iterator[Event | Comment]]]:
    """The answer to GET ``path`` as a stream, and its events as they come."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    timeout = httpx.Timeout(30.0, read=read_timeout_s)
    with client.stream("GET", path, headers=headers, timeout=timeout) as response:
        yield response, parse(response.iter_lines())


def read_until_end(events: Iterator[Event | Comment]) -> list[Event]:
    """Every event up to and with ``end`` (the stream closes after it)."""
    seen = []
    for item in events:
        if isinstance(item, Event):
            seen.append(item)
            if item.kind == "end":
                return seen
    raise AssertionError(f"the stream closed without an end event after {len(seen)} events")
