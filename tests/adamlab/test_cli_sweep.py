"""``adamlab sweep`` and its client (adamlab/commands/sweep/, adamlab/sweep_client.py)
against scripted answers of the sweeps API (tests/support/scripted_api.py), in this
process: what each command sends, prints and exits with. Its refusals are
test_cli_sweep_errors.py; the presets, tests/core/test_sweep_presets.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.spec import ExperimentSpec
from core.sweeps.presets import lr_sensitivity
from tests.support.env import REPO_ROOT
from tests.support.scripted_api import ScriptedApi, command_runner

SWEEP_ID = "5b0c1d2e-0000-4000-8000-000000000001"
SWEEP = f"/v1/sweeps/{SWEEP_ID}"
BEST = {
    "experiment_id": "e-best",
    "value": 0.981,
    "params": {"optimizer.name": "adam", "optimizer.lr": 0.001},
    "seeds": 3,
    "seed": 0,
}
BODY: dict[str, Any] = {
    "name": "lr-sensitivity",
    "base": {"dataset": {"name": "mnist", "batch_size": 128}, "model": {"name": "mlp"}},
    "parameters": {"optimizer.lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-1}},
    "seeds": 3,
    "method": "random",
    "max_members": 63,
}


def sweep(status: str = "running", *, best: dict | None = None, **members: int) -> dict:
    """A SweepPublic of 63 members, ``members`` their counts by status."""
    counts = dict.fromkeys(("queued", "running", "succeeded", "failed", "cancelled",
                            "stopped"), 0) | {"total": 63, "planned": 63} | members  # fmt: skip
    ended = status != "running"
    return {
        "id": SWEEP_ID,
        "name": "lr-sensitivity",
        "status": status,
        "method": "grid",
        "metric": {"name": "test_acc", "goal": "maximize"},
        "created_at": "2025-01-02T03:04:05+00:00",
        "finished_at": "2025-01-02T04:04:05+00:00" if ended else None,
        "members": counts,
        "progress": {"fraction": 1.0 if ended else 0.17, "eta_s": None if ended else 420.0},
        "best": best,
        "spec": BODY,
    }


@pytest.fixture
def api() -> ScriptedApi:
    return ScriptedApi()


@pytest.fixture
def adamlab(api: ScriptedApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    return command_runner(api, monkeypatch, capsys)


def json_file(folder: Path, document: object, name: str = "sweep.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(document))
    return path


# --- create ---------------------------------------------------------------------------


def test_create_from_a_file_prints_the_id_and_the_member_count(
    api: ScriptedApi, adamlab: Any, tmp_path: Path
) -> None:
    api.on("POST /v1/sweeps", (201, sweep(queued=63), {"Location": SWEEP}))
    code, out, err = adamlab("sweep", "create", str(json_file(tmp_path, BODY)))
    assert (code, out) == (0, f"{SWEEP_ID}\n")
    assert err == f"created sweep {SWEEP_ID}: 63 members, grid\n"
    (sent,) = api.sent("POST /v1/sweeps")
    assert json.loads(sent.content) == BODY
    assert len(sent.headers["Idempotency-Key"]) == 36  # a fresh key: a retry is safe


def test_create_reads_yaml_from_stdin_with_exponents_as_numbers(
    api: ScriptedApi, adamlab: Any
) -> None:
    api.on("POST /v1/sweeps", (201, sweep(queued=63)))
    yaml_text = (
        "name: lr-sensitivity\n"
        "base: {dataset: {name: mnist, batch_size: 128}, model: {name: mlp}}\n"
        "parameters:\n"
        "  optimizer.lr: {distribution: log_uniform, min: 1e-4, max: 1.0e-1}\n"
        "seeds: 3\nmethod: random\nmax_members: 63\n"
    )
    code, _out, err = adamlab("sweep", "create", "-", "--json", stdin=yaml_text)
    assert code == 0, err
    assert json.loads(api.sent("POST /v1/sweeps")[0].content) == BODY


def test_the_example_sweep_is_sent_as_numbers(api: ScriptedApi, adamlab: Any) -> None:
    api.on("POST /v1/sweeps", (201, sweep(queued=24)))
    code, _out, err = adamlab("sweep", "create", str(REPO_ROOT / "examples/digits-sweep.yaml"))
    assert code == 0, err
    sent = json.loads(api.sent("POST /v1/sweeps")[0].content)
    lr = sent["parameters"]["optimizer.lr"]
    assert (lr["min"], lr["max"]) == (1e-4, 1e-1)
    assert sent["early_stopping"] == {"method": "asha", "min_epochs": 1, "reduction_factor": 3}
    ExperimentSpec.model_validate(sent["base"])


def test_create_from_a_preset_with_seeds_and_a_key(api: ScriptedApi, adamlab: Any) -> None:
    api.on("POST /v1/sweeps", (201, sweep(queued=105), {"Idempotent-Replayed": "true"}))
    code, out, err = adamlab(
        "sweep", "create", "--preset", "lr-sensitivity", "--seeds", "5",
        "--idempotency-key", "study-1", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["id"] == SWEEP_ID
    assert "(the sweep created earlier with this --idempotency-key)" in err
    (sent,) = api.sent("POST /v1/sweeps")
    assert json.loads(sent.content) == lr_sensitivity(seeds=5)
    assert sent.headers["Idempotency-Key"] == "study-1"


def test_create_with_a_group_size(api: ScriptedApi, adamlab: Any) -> None:
    api.on("POST /v1/sweeps", (201, sweep(queued=63)))
    code, _out, err = adamlab("sweep", "create", "--preset", "lr-sensitivity", "--group-size", "1")
    assert code == 0, err
    (sent,) = api.sent("POST /v1/sweeps")
    assert json.loads(sent.content) == lr_sensitivity() | {"group_size": 1}


def test_create_is_retried_with_the_same_key_after_a_gateway_error(
    api: ScriptedApi, adamlab: Any, tmp_path: Path
) -> None:
    api.on("POST /v1/sweeps", (502, {"detail": "bad gateway"}), (201, sweep(queued=63)))
    code, out, err = adamlab("sweep", "create", str(json_file(tmp_path, BODY)))
    assert (code, out.strip()) == (0, SWEEP_ID), err
    first, second = api.sent("POST /v1/sweeps")
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert "trying again" in err


def test_create_is_not_retried_after_a_503(api: ScriptedApi, adamlab: Any, tmp_path: Path) -> None:
    # The server's 503 of a creation: the sweep exists, its members failed; a replay of the
    # key would answer that sweep, so the command says what the server said instead.
    detail = "The sweep's members could not be queued (broker down); try a new Idempotency-Key."
    api.on("POST /v1/sweeps", (503, {"detail": detail}, {"Retry-After": "0"}), (201, sweep()))
    code, out, err = adamlab("sweep", "create", str(json_file(tmp_path, BODY)))
    assert (code, out) == (2, "")
    assert err == f"adamlab: HTTP 503: {detail}\n"
    assert len(api.sent("POST /v1/sweeps")) == 1


# --- waiting --------------------------------------------------------------------------


def test_create_wait_prints_a_plain_line_per_change_then_exits_0(
    api: ScriptedApi, adamlab: Any, tmp_path: Path
) -> None:
    api.on("POST /v1/sweeps", (201, sweep(queued=63)))
    api.on(
        f"GET {SWEEP}",
        (200, sweep(queued=63)),
        (200, sweep(queued=63)),  # no change: no line
        (200, sweep(queued=50, running=2, succeeded=9, stopped=2, best=BEST)),
        (200, sweep("finished", succeeded=60, stopped=3, best=BEST)),
    )
    code, out, err = adamlab(
        "sweep", "create", str(json_file(tmp_path, BODY)), "--wait", "--poll-interval", "0.01"
    )
    assert code == 0, err
    assert "\r" not in err and "\x1b[" not in err
    assert err.splitlines() == [
        f"created sweep {SWEEP_ID}: 63 members, grid",
        "queued 63, running 0, done 0, stopped early 0, failed 0 (of 63); best test_acc none yet",
        "queued 50, running 2, done 9, stopped early 2, failed 0 (of 63); "
        "best test_acc 0.981 (adam, lr 0.001)",
        "queued 0, running 0, done 60, stopped early 3, failed 0 (of 63); "
        "best test_acc 0.981 (adam, lr 0.001)",
    ]
    assert out.splitlines() == [
        f"{SWEEP_ID}: finished: queued 0, running 0, done 60, stopped early 3, failed 0 (of 63)",
        "best test_acc 0.981 (adam, lr 0.001; median of 3 seeds; seed 0; experiment e-best)",
    ]
    assert len(api.sent(f"GET {SWEEP}")) == 4


@pytest.mark.parametrize(
    "final",
    [
        sweep("finished", succeeded=62, failed=1, best=BEST),
        sweep("cancelled", succeeded=9, cancelled=54, best=BEST),
    ],
    ids=["a member failed", "cancelled"],
)
def test_wait_exits_1_unless_every_member_succeeded_or_stopped(
    api: ScriptedApi, adamlab: Any, final: dict
) -> None:
    api.on(f"GET {SWEEP}", (200, final))
    code, out, err = adamlab("sweep", "wait", SWEEP_ID)
    assert code == 1, err
    assert out.startswith(f"{SWEEP_ID}: {final['status']}: ")
    if final["status"] == "cancelled":
        assert "cancelled 54 (of 63)" in out


def test_ctrl_c_while_waiting_says_the_sweep_goes_on(api: ScriptedApi, adamlab: Any) -> None:
    def interrupted(request: httpx.Request) -> Any:
        raise KeyboardInterrupt

    api.on(f"GET {SWEEP}", (200, sweep(queued=63)), interrupted)
    code, _out, err = adamlab("sweep", "wait", SWEEP_ID, "--poll-interval", "0.01")
    assert code == 130
    assert (
        f"adamlab sweep wait: stopped waiting; the sweep continues; "
        f"`adamlab sweep cancel {SWEEP_ID}` stops it "
        f"(`adamlab sweep wait {SWEEP_ID}` follows it again)"
    ) in err
    assert "Traceback" not in err
    assert [f"{r.method} {r.url.path}" for r in api.requests] == [f"GET {SWEEP}"] * 2


def test_wait_on_a_terminal_rewrites_one_line_with_the_eta(
    api: ScriptedApi, adamlab: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("adamlab.commands.sweep.create.stderr_is_terminal", lambda: True)
    api.on(f"GET {SWEEP}", (200, sweep(queued=63)), (200, sweep("finished", succeeded=63)))
    code, _out, err = adamlab("sweep", "wait", SWEEP_ID, "--poll-interval", "0.01")
    assert code == 0, err
    assert "\r" in err
    first = (
        "queued 63, running 0, done 0, stopped early 0, failed 0 (of 63); best test_acc none yet"
    )
    assert f"{first}; about 7 min left" in err
    last = "queued 0, running 0, done 63, stopped early 0, failed 0 (of 63); best test_acc none yet"
    assert err.rstrip().endswith(last)


# --- list, show, cancel, extend -------------------------------------------------------


def test_list_follows_the_cursor_into_one_table(api: ScriptedApi, adamlab: Any) -> None:
    other = sweep("finished", succeeded=63) | {"id": "s-2", "name": "table1", "method": "tpe"}
    api.on(
        "GET /v1/sweeps",
        lambda r: (200, {"data": [other], "next_cursor": None})
        if r.url.params.get("cursor") == "c2"
        else (200, {"data": [sweep(succeeded=9, stopped=2, failed=1, best=BEST)],
                    "next_cursor": "c2"}),
    )  # fmt: skip
    code, out, err = adamlab("sweep", "list")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["id", "name", "status", "method", "members", "best"]
    assert rows[0].split() == [SWEEP_ID, "lr-sensitivity", "running", "grid", "12/63",
                               "0.981", "(adam,", "lr", "0.001)"]  # fmt: skip
    assert rows[1].split() == ["s-2", "table1", "finished", "tpe", "63/63", "-"]
    assert header.index("best") == rows[0].index("0.981")  # columns aligned

    code, out, _err = adamlab("sweep", "list", "--json", "--limit", "1")
    assert code == 0 and [s["id"] for s in json.loads(out)] == [SWEEP_ID]


def test_show_prints_counts_progress_and_the_best(api: ScriptedApi, adamlab: Any) -> None:
    api.on(f"GET {SWEEP}", (200, sweep(queued=50, running=2, succeeded=9, stopped=2, best=BEST)))
    code, out, err = adamlab("sweep", "show", SWEEP_ID)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"sweep {SWEEP_ID} (lr-sensitivity)"
    assert lines[1].startswith("  status    running, grid search, created ")
    assert lines[2:] == [
        "  metric    test_acc, maximize",
        "  members   queued 50, running 2, done 9, stopped early 2, failed 0 (of 63)",
        "  progress  17%, about 7 min left",
        "  best      test_acc 0.981 (adam, lr 0.001; median of 3 seeds; seed 0; experiment e-best)",
    ]
    code, out, _err = adamlab("sweep", "show", SWEEP_ID, "--json")
    assert code == 0 and json.loads(out)["best"] == BEST


def test_cancel_several_names_each_refusal(api: ScriptedApi, adamlab: Any) -> None:
    api.on(f"POST {SWEEP}/cancel", (200, sweep("cancelled", succeeded=9, cancelled=54)))
    api.on("POST /v1/sweeps/nope/cancel", (404, {"detail": "No sweep with id 'nope'."}))
    code, out, err = adamlab("sweep", "cancel", SWEEP_ID, "nope", SWEEP_ID)
    assert code == 2
    assert out.splitlines() == [
        f"{SWEEP_ID}: cancelled (queued 0, running 0, done 9, stopped early 0, failed 0, "
        "cancelled 54 (of 63))"
    ]
    assert "adamlab sweep cancel: nope: HTTP 404: No sweep with id 'nope'." in err


def test_delete_several_names_each_refusal(api: ScriptedApi, adamlab: Any) -> None:
    api.on(f"DELETE {SWEEP}", (204, None))
    api.on("DELETE /v1/sweeps/nope", (404, {"detail": "No sweep with id 'nope'."}))
    code, out, err = adamlab("sweep", "delete", SWEEP_ID, "nope")
    assert code == 2
    assert out.splitlines() == [f"{SWEEP_ID}: deleted, with its members"]
    assert "adamlab sweep delete: nope: HTTP 404: No sweep with id 'nope'." in err
    assert len(api.sent(f"DELETE {SWEEP}")) == 1


def test_extend_sends_only_what_is_given(api: ScriptedApi, adamlab: Any, tmp_path: Path) -> None:
    entries = tmp_path / "more.yaml"
    entries.write_text("optimizer.lr:\n  values: [1e-3, 3e-3]\n")
    api.on(f"POST {SWEEP}/extend", (200, sweep(queued=42) | {"added": 42}))
    code, out, err = adamlab("sweep", "extend", SWEEP_ID, "--seeds", "5",
                             "--parameters", str(entries))  # fmt: skip
    assert code == 0, err
    assert out == f"{SWEEP_ID}: added 42 members (63 in all; running)\n"
    (sent,) = api.sent(f"POST {SWEEP}/extend")
    assert json.loads(sent.content) == {
        "seeds": 5, "parameters": {"optimizer.lr": {"values": [0.001, 0.003]}}}  # fmt: skip

    code, _out, err = adamlab("sweep", "extend", SWEEP_ID)
    assert code == 2 and "give --seeds, --parameters or --max-members" in err
    assert len(api.sent(f"POST {SWEEP}/extend")) == 1


# --- report ---------------------------------------------------------------------------

REPORT = {
    "metric": "test_acc",
    "goal": "maximize",
    "target": 0.97,
    "confidence": 0.9,
    "configurations": [
        {"rank": 1, "params": {"optimizer.name": "adam", "optimizer.lr": 0.001}, "n": 3,
         "median": 0.981, "iqm": 0.9812, "mean": 0.9811, "ci_low": 0.979, "ci_high": 0.983},
        {"rank": 2, "params": {"optimizer.name": "sgd", "optimizer.lr": 0.1}, "n": 3,
         "median": 0.975, "iqm": 0.9748, "mean": 0.975, "ci_low": 0.97, "ci_high": 0.978},
        {"rank": None, "params": {"optimizer.name": "adamax", "optimizer.lr": 0.1}, "n": 0,
         "median": None, "iqm": None, "mean": None, "ci_low": None, "ci_high": None},
    ],
}  # fmt: skip


def test_report_writes_four_files_and_prints_the_top_rows(
    api: ScriptedApi, adamlab: Any, tmp_path: Path
) -> None:
    api.on(
        f"GET {SWEEP}/report",
        lambda r: (
            (200, "rank,median\n1,0.981\n", {"content-type": "text/csv"})
            if r.headers.get("accept") == "text/csv"
            else (200, REPORT)
        ),
    )
    api.on(f"GET {SWEEP}/report.png", (200, b"\x89PNG\r\n\x1a\nimage"))
    api.on(f"GET {SWEEP}/report.svg", (200, b"<svg>figure</svg>"))
    out_dir = tmp_path / "new" / "report"
    code, out, err = adamlab("sweep", "report", SWEEP_ID, "-o", str(out_dir), "--target", "0.97")
    assert code == 0, err
    assert json.loads((out_dir / "report.json").read_text()) == REPORT
    assert (out_dir / "report.csv").read_text() == "rank,median\n1,0.981\n"
    assert (out_dir / "report.png").read_bytes() == b"\x89PNG\r\n\x1a\nimage"
    assert (out_dir / "report.svg").read_bytes() == b"<svg>figure</svg>"
    assert all(r.url.params["target"] == "0.97" for r in api.requests)
    assert len(api.requests) == 4
    assert out.splitlines() == [
        "rank  configuration   median  IQM     90% CI            n",
        "1     adam, lr 0.001  0.9810  0.9812  [0.9790, 0.9830]  3",
        "2     sgd, lr 0.1     0.9750  0.9748  [0.9700, 0.9780]  3",
        "-     adamax, lr 0.1  -       -       -                 0",
    ]
    code, out, _err = adamlab("sweep", "report", SWEEP_ID, "-o", str(out_dir), "--top", "1")
    assert code == 0
    assert out.splitlines()[1:] == [
        "1     adam, lr 0.001  0.9810  0.9812  [0.9790, 0.9830]  3",
        f"(2 more in {out_dir / 'report.csv'})",
    ]


def test_report_into_a_file_names_the_flag(api: ScriptedApi, adamlab: Any, tmp_path: Path):
    (tmp_path / "taken").write_text("")
    code, _out, err = adamlab("sweep", "report", SWEEP_ID, "-o", str(tmp_path / "taken"))
    assert code == 2 and f"--output {tmp_path / 'taken'}: not a folder" in err
    assert api.requests == []


def test_list_of_a_sweeps_members_asks_for_them(api: ScriptedApi, adamlab: Any) -> None:
    api.on("GET /v1/experiments", (200, {"data": [], "next_cursor": None}))
    code, _out, err = adamlab("list", "--sweep", SWEEP_ID, "--status", "stopped")
    assert code == 0, err
    (sent,) = api.sent("GET /v1/experiments")
    assert sent.url.params["sweep"] == SWEEP_ID and sent.url.params["status"] == "stopped"
