"""An API whose answers a test scripts, route by route, for the ``adamlab`` commands run
in the test's own process (``adamlab.cli.main``): no server, no store. For routes whose
server side is tested apart (``tests/api/``); the commands' own tests against the live
service are in ``tests/adamlab/test_cli*.py``."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any, NamedTuple

import httpx
import pytest

import adamlab.client
from adamlab.client import AdamlabClient

Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]] | Callable[[httpx.Request], Any]
"""``(status, body)``, ``(status, body, headers)`` (a ``bytes`` or ``str`` body is sent as
it is, anything else as JSON), or a function of the request returning one of those (or
raising, as a refused connection or a Ctrl-C does)."""


class ScriptedApi:
    """Answers each ``"METHOD /path"`` with its scripted answers in turn, the last one
    repeating; any other request gets FastAPI's 404 of a missing route. Every request is
    kept, in order, in ``requests``."""

    def __init__(self) -> None:
        self._script: dict[str, list[Answer]] = {}
        self._served: dict[str, int] = {}
        self.requests: list[httpx.Request] = []

    def on(self, route: str, *answers: Answer) -> None:
        self._script[route] = list(answers)
        self._served[route] = 0

    def sent(self, route: str) -> list[httpx.Request]:
        """The requests of ``route`` (``"METHOD /path"``), in order."""
        return [r for r in self.requests if f"{r.method} {r.url.path}" == route]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = f"{request.method} {request.url.path}"
        answers = self._script.get(route)
        if not answers:
            return httpx.Response(404, json={"detail": "Not Found"})
        answer: Any = answers[min(self._served[route], len(answers) - 1)]
        self._served[route] += 1
        if callable(answer):
            answer = answer(request)
        status, body, *rest = answer
        headers = rest[0] if rest else {}
        if isinstance(body, bytes | str):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, content=json.dumps(body).encode(), headers={
            "content-type": "application/json", **headers})  # fmt: skip


class Outcome(NamedTuple):
    code: int
    out: str
    err: str


def command_runner(
    api: ScriptedApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Outcome]:
    """``run(*argv, stdin=None)``: ``adamlab ARGV`` against ``api`` (``stdin`` its standard
    input), its exit code (argparse's refusal too) and output."""

    def run(*argv: str, stdin: str | None = None) -> Outcome:
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        try:
            code = run_adamlab(api, monkeypatch, *argv)
        except SystemExit as exited:  # argparse's refusal of an argument
            code = int(exited.code or 0)
        out, err = capsys.readouterr()
        return Outcome(code, out, err)

    return run


def run_adamlab(api: ScriptedApi, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    """``adamlab ARGV`` in this process, its client's requests answered by ``api``; its
    exit code (the test's ``capsys`` holds its output)."""
    from adamlab.cli import main

    class ScriptedClient(AdamlabClient):  # the module's own class, never a scripted one
        def __init__(self, base_url: str, **kwargs: Any) -> None:
            kwargs["transport"] = httpx.MockTransport(api.handle)
            super().__init__(base_url, **kwargs)

    monkeypatch.setattr(adamlab.client, "AdamlabClient", ScriptedClient)
    monkeypatch.delenv("ADAMLAB_SERVER", raising=False)
    monkeypatch.delenv("ADAMLAB_API_KEY", raising=False)
    monkeypatch.setenv("ADAMLAB_RETRY_FOR_S", "5")
    return main(list(argv))
