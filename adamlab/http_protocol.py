"""uvicorn's h11 protocol with read timeouts and a connection cap, for slow clients.

uvicorn times out only an idle kept-alive connection (``timeout_keep_alive``); a client
that opens a connection and sends its headers or its body a byte at a time (slowloris)
is waited for forever, and a thousand such clients hold a thousand sockets. uvicorn has
no option for a header or body read timeout (as of 0.55), so this small subclass of its
``H11Protocol`` adds them; everything else is uvicorn's own code. It follows the request
through the parts of ``H11Protocol`` it builds on (``conn``, the h11 connection, and
``cycle``), tested with uvicorn 0.55, the lowest version pyproject.toml allows. Serve
with::

    uvicorn api.main:app --http adamlab.http_protocol:TimedH11Protocol

(``adamlab serve``, the compose stack and the Dockerfile do). The limits come from
``core.settings``:

- ``ADAMLAB_HTTP_HEADER_TIMEOUT_S`` (10 s): the request line and headers must be complete
  this long after the connection opened, or, on a kept-alive connection, after the next
  request's first byte; else the answer is 408 and the connection is closed.
- ``ADAMLAB_HTTP_BODY_TIMEOUT_S`` (30 s): the body must be complete this long after the
  headers; else 408 (or, if the app has already started its answer, just the close).
- ``ADAMLAB_HTTP_MAX_CONNECTIONS`` (2048): a connection beyond it is answered 503 with
  Retry-After and closed at once; uvicorn's own ``limit_concurrency`` takes the same
  value, so a request beyond that many running ones is 503 too. Per process.

Each timeout is a deadline for the whole part, not a limit between two reads: a client
that trickles a byte every second still runs out of time.
"""

from __future__ import annotations

import asyncio
import http
import json
from typing import Any, Literal

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from core.settings import settings

UVICORN_HTTP = "adamlab.http_protocol:TimedH11Protocol"
"""uvicorn's ``--http`` for this protocol."""

RETRY_AFTER_S = 1
"""What a client refused for the connection cap is told to wait."""

_Phase = Literal["headers", "body"]
_TIMEOUT_VARIABLES: dict[_Phase, str] = {
    "headers": "ADAMLAB_HTTP_HEADER_TIMEOUT_S",
    "body": "ADAMLAB_HTTP_BODY_TIMEOUT_S",
}


class TimedH11Protocol(H11Protocol):
    """``H11Protocol`` with a deadline for the headers, one for the body, and a cap on
    open connections (see the module's docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout_s = settings.http_header_timeout_s
        self.body_timeout_s = settings.http_body_timeout_s
        self.max_connections = settings.http_max_connections
        if config.limit_concurrency is None:
            # uvicorn answers 503 to a request once this many connections (this one
            # included) or requests are open: one more than the cap, so that every
            # connection the cap lets in is served.
            self.limit_concurrency = self.max_connections + 1
        self._read_deadline: asyncio.TimerHandle | None = None
        self._read_phase: _Phase | None = None

    # --- the asyncio.Protocol interface ---------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self.logger.warning(
                "%d connections open, the cap is %d (ADAMLAB_HTTP_MAX_CONNECTIONS): refused",
                len(self.connections) - 1,
                self.max_connections,
            )
            self._answer_and_close(
                503,
                "The server has too many open connections; try again in a moment.",
                extra_headers=((b"retry-after", str(RETRY_AFTER_S).encode()),),
            )
            return
        self._arm("headers")

    def data_received(self, data: bytes) -> None:
        if self._read_phase is None and self.conn.their_state is h11.IDLE:
            self._arm("headers")  # the first byte of the next request of a kept-alive one
        super().data_received(data)
        self._follow_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_request()

    # --- the deadlines --------------------------------------------------------------------

    def _follow_request(self) -> None:
        """Move the deadline along with the request: headers, then body, then none."""
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            buffered, _ = self.conn.trailing_data
            if buffered and self._read_phase != "headers":
                self._arm("headers")  # part of a pipelined request is already here
            elif not buffered and self.cycle is not None:
                # The answer to the previous request is out and nothing of the next one
                # has come: the connection is idle, uvicorn's keep-alive timeout applies.
                self._disarm()
        elif state is h11.SEND_BODY:
            if self._read_phase != "body":
                self._arm("body")
        else:  # DONE (the app has the whole request), MUST_CLOSE, CLOSED, ERROR
            self._disarm()

    def _arm(self, phase: _Phase) -> None:
        self._disarm()
        timeout_s = self.header_timeout_s if phase == "headers" else self.body_timeout_s
        self._read_phase = phase
        self._read_deadline = self.loop.call_later(timeout_s, self._timed_out, phase)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
        self._read_deadline = None
        self._read_phase = None

    def _timed_out(self, phase: _Phase) -> None:
        self._read_deadline = None
        self._read_phase = None
        if self.transport.is_closing():
            return
        timeout_s = self.header_timeout_s if phase == "headers" else self.body_timeout_s
        variable = _TIMEOUT_VARIABLES[phase]
        self.logger.info("%s: the %s took longer than %s s: 408", self.client, phase, timeout_s)
        if phase == "body" and self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # the app answers already; it sees the disconnect
            return
        self._answer_and_close(
            408,
            f"The request's {phase} did not arrive within {timeout_s:g} seconds ({variable}); "
            "the connection is closed.",
        )

    def _answer_and_close(
        self,
        status: int,
        detail: str,
        *,
        extra_headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        """Write a whole JSON answer and close. Written as bytes: h11 lets a server answer
        only a request whose headers it has read, and these answer before that."""
        body = json.dumps({"detail": detail}).encode()
        reason = http.HTTPStatus(status).phrase.encode()
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *extra_headers,
        ]
        head = b"HTTP/1.1 %d %s\r\n" % (status, reason)
        head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(head + b"\r\n" + body)
        self.transport.close()
