"""``adamlab sweep``'s refusals against scripted answers of the sweeps API
(tests/support/scripted_api.py), in this process: a file that cannot be read, arguments
that do not go together, a 422, an unknown id, no server. Each is one message naming the
argument or the field, never a traceback, with the client commands' exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.scripted_api import ScriptedApi, command_runner

SWEEP_ID = "5b0c1d2e-0000-4000-8000-000000000001"
BODY: dict[str, Any] = {
    "base": {"dataset": {"name": "mnist", "batch_size": 128}, "model": {"name": "mlp"}},
    "parameters": {"optimizer.lr": {"values": [0.001, 0.01]}},
}


@pytest.fixture
def api() -> ScriptedApi:
    return ScriptedApi()


@pytest.fixture
def adamlab(api: ScriptedApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    return command_runner(api, monkeypatch, capsys)


def json_file(folder: Path) -> Path:
    path = folder / "sweep.json"
    path.write_text(json.dumps(BODY))
    return path


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.json", None, "FILE: cannot read {path}: No such file or directory"),
        ("bad.json", '{"name": "x",}', "FILE: {path} is not JSON: Expecting property name "
         "enclosed in double quotes (line 1, column 14)"),
        ("bad.yaml", "name: [x\n", "FILE: {path} is not YAML: expected ',' or ']', but got "
         "'<stream end>' (line 2, column 1)"),
        ("list.json", "[1, 2]", "FILE: {path} must hold an object (keys and values)"),
    ],
    ids=["missing", "bad JSON", "bad YAML", "not an object"],
)  # fmt: skip
def test_an_unreadable_file_is_a_usage_error_naming_it(
    api: ScriptedApi, adamlab: Any, tmp_path: Path, name: str, text: str | None, message: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    code, out, err = adamlab("sweep", "create", str(path))
    assert (code, out) == (2, "")
    assert err == f"adamlab sweep create: {message.format(path=path)}\n"
    assert api.requests == []

    code, _out, err = adamlab("sweep", "extend", SWEEP_ID, "--parameters", str(path))
    assert code == 2 and err.startswith("adamlab sweep extend: --parameters: ")


def test_file_and_preset_together_is_a_usage_error(
    api: ScriptedApi, adamlab: Any, tmp_path: Path
) -> None:
    code, _out, err = adamlab("sweep", "create", str(json_file(tmp_path)),
                              "--preset", "table1")  # fmt: skip
    assert code == 2 and "give FILE or --preset NAME (one of them)" in err
    code, _out, err = adamlab("sweep", "create", "--preset", "table2")
    assert code == 2 and "argument --preset: invalid choice: 'table2'" in err
    code, _out, err = adamlab("sweep", "create", "--preset", "table1", "--seeds", "0")
    assert code == 2 and "argument --seeds: must be 1 or more, got 0" in err
    code, _out, err = adamlab("sweep", "create", "--preset", "table1", "--group-size", "x")
    assert code == 2 and "argument --group-size: expected a whole number, got 'x'" in err
    assert api.requests == []


def test_a_422_names_each_field(api: ScriptedApi, adamlab: Any, tmp_path: Path) -> None:
    api.on("POST /v1/sweeps", (422, {"detail": "invalid request", "errors": [
        {"location": "body", "field": "parameters.optimizer.lr.min", "type": "value_error",
         "message": "a log_uniform distribution needs min > 0"}]}))  # fmt: skip
    code, out, err = adamlab("sweep", "create", str(json_file(tmp_path)))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "adamlab: HTTP 422: invalid request",
        "  parameters.optimizer.lr.min: a log_uniform distribution needs min > 0",
    ]
    assert len(api.sent("POST /v1/sweeps")) == 1  # a 4xx is never retried


@pytest.mark.parametrize(
    "argv",
    [("show", "nope"), ("wait", "nope"), ("extend", "nope", "--seeds", "2"),
     ("report", "nope", "-o", "{tmp}")],
    ids=lambda argv: argv[0],
)  # fmt: skip
def test_an_unknown_id_is_a_404_message(
    api: ScriptedApi, adamlab: Any, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    missing = (404, {"detail": "No sweep with id 'nope'."})
    for route in ("GET /v1/sweeps/nope", "POST /v1/sweeps/nope/extend",
                  "GET /v1/sweeps/nope/report"):  # fmt: skip
        api.on(route, missing)
    code, out, err = adamlab("sweep", *(a.format(tmp=tmp_path / "r") for a in argv))
    assert (code, out) == (2, "")
    assert err == "adamlab: HTTP 404: No sweep with id 'nope'.\n"
    assert not (tmp_path / "r").exists()


def test_no_server_exits_3(api: ScriptedApi, adamlab: Any) -> None:
    def refused(request: httpx.Request) -> Any:
        raise httpx.ConnectError("Connection refused", request=request)

    api.on("GET /v1/sweeps", refused)
    code, _out, err = adamlab("sweep", "list")
    assert code == 3
    assert err == (
        "adamlab: no adamlab server answered at http://127.0.0.1:8000: "
        "ConnectError: Connection refused\n"
    )
