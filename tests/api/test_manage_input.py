"""Run management's answers, in this process on SQLite and a real PostgreSQL
(tests/support/app.py): PATCH as a JSON merge patch of name, tags and note, each refusal a
422 naming the field; DELETE 204 then 404, its folder gone; another tenant's experiment
the 404 of an unknown id on both. The same routes on the live service, with a worker
running the experiment, are tests/api/test_manage.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.settings import settings
from core.text import MAX_NOTE_CHARS
from tests.factories import digits_body
from tests.support.app import InProcessApi, inprocess_api
from tests.support.store import Store

MERGE_PATCH = "application/merge-patch+json"


@pytest.fixture
def api(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessApi]:
    monkeypatch.setattr(settings, "state_dir", tmp_path / "state")
    with inprocess_api(store, monkeypatch) as running:
        yield running


def tenant(api: InProcessApi, role: str) -> TestClient:
    return api.client(api.new_key(f"{role}-{uuid.uuid4().hex[:8]}"))


@pytest.fixture
def alice(api: InProcessApi) -> TestClient:
    return tenant(api, "alice")


def submitted(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/experiments", json=digits_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def patch(client: TestClient, experiment_id: str, body: Any, **kwargs: Any) -> Any:
    return client.patch(f"/v1/experiments/{experiment_id}", json=body, **kwargs)


def field_errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {error["field"]: error["type"] for error in response.json()["errors"]}


# --- PATCH ------------------------------------------------------------------------------------


def test_patch_replaces_name_tags_and_note_and_every_read_shows_them(alice: TestClient) -> None:
    experiment = submitted(alice, name="before", tags=["old", "kept"])
    note = "lr too high?\n\tsee run 12\n🙂"
    response = patch(
        alice, experiment["id"], {"name": "after", "tags": ["kept", "new"], "note": note}
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert (edited["name"], edited["tags"], edited["note"]) == ("after", ["kept", "new"], note)
    assert (edited["spec"]["name"], edited["spec"]["tags"]) == ("after", ["kept", "new"])
    assert edited["spec"]["epochs"] == experiment["spec"]["epochs"]
    assert edited["checkpoints"] == [] and edited["disk_bytes"] == 0  # the GET's answer

    shown = alice.get(f"/v1/experiments/{experiment['id']}").json()
    assert shown == edited
    listed = alice.get("/v1/experiments", params={"tag": "new"}).json()
    assert [(row["id"], row["note"]) for row in listed["data"]] == [(experiment["id"], note)]
    assert alice.get("/v1/experiments", params={"tag": "old"}).json()["count"] == 0


def test_patch_is_a_merge_patch(alice: TestClient) -> None:
    experiment_id = submitted(alice, name="n", tags=["t"])["id"]
    first = patch(alice, experiment_id, {"note": "remember this"}).json()
    assert (first["name"], first["tags"], first["note"]) == ("n", ["t"], "remember this")
    unchanged = patch(alice, experiment_id, {}).json()
    assert unchanged == first
    cleared = alice.patch(
        f"/v1/experiments/{experiment_id}",
        content=b'{"note": null, "tags": null}',
        headers={"content-type": MERGE_PATCH},
    )
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["name"], cleared.json()["tags"], cleared.json()["note"]) == (
        "n",
        [],
        None,
    )
    repeated = patch(alice, experiment_id, {"tags": ["a", "b", "a"]}).json()
    assert repeated["tags"] == ["a", "b"]


def test_a_note_of_the_most_characters_fits_the_body_limit(alice: TestClient) -> None:
    experiment_id = submitted(alice)["id"]
    longest = "🙂" * MAX_NOTE_CHARS  # 4 bytes each in UTF-8
    body = json.dumps({"note": longest}, ensure_ascii=False).encode()
    assert len(body) <= settings.max_body_bytes
    response = alice.patch(
        f"/v1/experiments/{experiment_id}",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text[:300]
    assert response.json()["note"] == longest
    too_long = patch(alice, experiment_id, {"note": "x" * (MAX_NOTE_CHARS + 1)})
    assert field_errors(too_long) == {"note": "string_too_long"}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"name": None}, {"name": "value_error"}),
        ({"name": ""}, {"name": "string_too_short"}),
        ({"name": "x" * 201}, {"name": "string_too_long"}),
        ({"name": "a\tb"}, {"name": "control_character"}),
        ({"tags": ["ok", "bad\x00"]}, {"tags.1": "control_character"}),
        ({"tags": [f"t{n}" for n in range(33)]}, {"tags": "too_long"}),
        ({"tags": "one"}, {"tags": "list_type"}),
        ({"note": "windows\r\nline"}, {"note": "control_character"}),
        ({"note": "bell\x07"}, {"note": "control_character"}),
        ({"note": 12}, {"note": "string_type"}),
        ({"epochs": 3}, {"epochs": "extra_forbidden"}),
        ({"status": "succeeded", "name": "x"}, {"status": "extra_forbidden"}),
        ([], {"body": "model_attributes_type"}),
    ],
    ids=repr,
)
def test_patch_refusals_are_422_naming_the_field_and_change_nothing(
    alice: TestClient, body: Any, errors: dict[str, str]
) -> None:
    experiment = submitted(alice, name="kept", tags=["t"])
    response = patch(alice, experiment["id"], body)
    assert field_errors(response) == errors
    for error in response.json()["errors"]:
        if error["type"] == "extra_forbidden":
            assert "name, tags and note can change" in error["message"], error
        if error["field"] == "name" and error["type"] == "value_error":
            assert "always has a name" in error["message"], error
    after = alice.get(f"/v1/experiments/{experiment['id']}").json()
    assert (after["name"], after["tags"], after["note"]) == ("kept", ["t"], None)


def test_patch_without_a_json_body_is_415(alice: TestClient) -> None:
    experiment_id = submitted(alice)["id"]
    response = alice.patch(f"/v1/experiments/{experiment_id}", content=b"name=x")
    assert response.status_code == 415, response.text


# --- DELETE -----------------------------------------------------------------------------------


def test_delete_answers_204_removes_the_folder_and_then_everything_is_404(
    alice: TestClient,
) -> None:
    experiment_id = submitted(alice)["id"]
    folder = settings.checkpoint_dir(experiment_id)
    (folder / "nested").mkdir(parents=True)
    for name in ("epoch-0001.pt", "final.safetensors", "run.log", "nested/x"):
        (folder / name).write_bytes(b"x")
    kept = submitted(alice)["id"]
    settings.checkpoint_dir(kept).mkdir(parents=True)

    response = alice.delete(f"/v1/experiments/{experiment_id}")
    assert (response.status_code, response.content) == (204, b"")
    assert not folder.exists()
    assert settings.checkpoint_dir(kept).is_dir()
    for method, suffix in [
        ("GET", ""),
        ("DELETE", ""),
        ("PATCH", ""),
        ("POST", "/cancel"),
        ("GET", "/metrics"),
        ("GET", "/logs"),
    ]:
        kwargs: dict[str, Any] = {"json": {}} if method == "PATCH" else {}
        again = alice.request(method, f"/v1/experiments/{experiment_id}{suffix}", **kwargs)
        assert again.status_code == 404, (method, suffix, again.text)
    listed = alice.get("/v1/experiments").json()
    assert [row["id"] for row in listed["data"]] == [kept]


def test_another_tenants_experiment_is_the_404_of_an_unknown_id(api: InProcessApi) -> None:
    owner, other = tenant(api, "owner"), tenant(api, "other")
    experiment_id = submitted(owner, name="owned")["id"]
    unknown_id = str(uuid.uuid4())
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("DELETE", {}),
        ("PATCH", {"json": {"name": "taken"}}),
        ("PATCH", {}),  # no body, no Content-Type: still the 404, not a 415
        ("PATCH", {"json": {"colour": 1}}),  # an invalid body: the 404 first
    ]
    for method, kwargs in attempts:
        foreign = other.request(method, f"/v1/experiments/{experiment_id}", **kwargs)
        unknown = other.request(method, f"/v1/experiments/{unknown_id}", **kwargs)
        assert (foreign.status_code, unknown.status_code) == (404, 404), (method, kwargs)
        assert foreign.json()["detail"].replace(experiment_id, "ID") == unknown.json()[
            "detail"
        ].replace(unknown_id, "ID")
    assert owner.get(f"/v1/experiments/{experiment_id}").json()["name"] == "owned"
