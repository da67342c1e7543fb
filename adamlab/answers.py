"""What the client makes of an answer: the errors it raises (``ApiError`` for an HTTP
error, ``ServerUnreachable`` when no server answers), which answers are transient (a
gateway's or a restarting server's 502, 503 and 504), and how long to wait before trying
again (the ``Retry-After`` of a 503, else exponential backoff with jitter)."""

from __future__ import annotations

from typing import Any

import httpx
from tenacity import RetryCallState, wait_exponential, wait_random

TRANSIENT_STATUS_CODES = frozenset({502, 503, 504})
"""Answers of a gateway or a server that is (re)starting: a repeatable request is retried."""


class ApiError(Exception):
    """The server answered with an HTTP error; ``detail`` is its explanation."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        errors: list[dict[str, Any]] | None = None,
        *,
        retry_after_s: float | None = None,
    ):
        self.status_code = status_code
        self.detail = detail
        self.errors = errors or []
        self.retry_after_s = retry_after_s
        """The Retry-After header's seconds (a 429 or 503), when it gave a number."""
        lines = [f"HTTP {status_code}: {detail}"]
        lines += [
            f"  {error.get('field', '?')}: {error.get('message', '')}" for error in self.errors
        ]
        super().__init__("\n".join(lines))


class ServerUnreachable(Exception):
    """No adamlab server answered at the base URL."""


class TransientAnswer(Exception):
    """A 502/503/504 answer, raised inside the retry loop so that tenacity retries it."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def api_error(response: httpx.Response) -> ApiError:
    after_s = retry_after_s(response.headers.get("Retry-After"))
    try:
        body = response.json()
    except ValueError:
        return ApiError(
            response.status_code,
            response.text.strip() or response.reason_phrase,
            retry_after_s=after_s,
        )
    if isinstance(body, dict):
        detail = body.get("detail")
        errors = body.get("errors")
        if isinstance(detail, list):  # FastAPI's default validation error shape
            errors = [
                {"field": ".".join(str(part) for part in item.get("loc", [])), **item}
                for item in detail
            ]
            detail = "invalid request"
        return ApiError(
            response.status_code,
            str(detail),
            errors if isinstance(errors, list) else [],
            retry_after_s=after_s,
        )
    return ApiError(response.status_code, str(body), retry_after_s=after_s)


class RetryAfterOrBackoff:
    """tenacity's wait: the Retry-After of a 503 that gave one, else exponential backoff
    with jitter (0.25 s, doubling, at most 5 s)."""

    def __init__(self) -> None:
        self._backoff = wait_exponential(multiplier=0.25, max=5.0) + wait_random(0, 0.25)

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, TransientAnswer):
            after_s = retry_after_s(error.response.headers.get("Retry-After"))
            if after_s is not None:
                return after_s
        return self._backoff(state)


def describe_error(error: BaseException | None) -> str:
    if error is None:
        return "no answer"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def retry_after_s(value: str | None) -> float | None:
    """Seconds of a Retry-After header given as a number (an HTTP date gives None)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
