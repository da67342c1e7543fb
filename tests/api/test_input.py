"""What the API takes from a client, on SQLite and on a real PostgreSQL (the app in this
process, keys required): text with control characters, integers beyond 64 bits, cursors
that hold either, repeatable parameters beyond their maxima, path ids that cannot be ids;
no server path in an answer; another tenant's id answers exactly as a missing one; a
statement that outlives ADAMLAB_STATEMENT_TIMEOUT_S ends the request with a 503."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from api.params import MAX_FILTER_VALUES, MAX_METRIC_NAMES
from core.compare import MAX_COMPARED
from core.spec.experiment import MAX_TAGS
from core.store.checkpoints import CheckpointFile, sync_checkpoints
from core.store.models import BIGINT_MAX, utc_now
from core.store.paging import encode_cursor
from core.store.session import make_engine, make_session_factory
from tests.factories import digits_body
from tests.support.app import InProcessApi, inprocess_api
from tests.support.store import Store

CONTROL_CHARACTERS = ["\x00", "\x1f", "\x7f", "\n"]


@pytest.fixture
def api(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessApi]:
    with inprocess_api(store, monkeypatch) as running:
        yield running


def tenant_client(api: InProcessApi, role: str) -> TestClient:
    return api.client(api.new_key(f"{role}-{uuid.uuid4().hex[:8]}"))


@pytest.fixture
def alice(api: InProcessApi) -> TestClient:
    return tenant_client(api, "alice")


def submitted(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/experiments", json=digits_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def assert_invalid(response: Any, *, location: str, field: str) -> None:
    """A 422 naming ``field`` (a repeated parameter's value as ``field.<index>``)."""
    assert response.status_code == 422, (response.request.url, response.text)
    named = [
        (error["location"], error["field"])
        for error in response.json()["errors"]
        if error["field"] == field or error["field"].startswith(f"{field}.")
    ]
    assert named and all(where == location for where, _ in named), response.json()


class Statements:
    """The SQL statements an engine runs, in order."""

    def __init__(self, engine: Any) -> None:
        self.seen: list[str] = []
        event.listen(engine, "before_cursor_execute", self._record)
        self._engine = engine

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.seen.append(statement)

    def during(self, call: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
        """What ``call(*args, **kwargs)`` returns, and the statements it ran."""
        start = len(self.seen)
        result = call(*args, **kwargs)
        return result, self.seen[start:]

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._record)


@pytest.fixture
def statements(store: Store) -> Iterator[Statements]:
    recorder = Statements(store.engine)
    yield recorder
    recorder.close()


# --- text: no control characters anywhere ----------------------------------------------------


def text_queries(experiment_id: str, bad: str) -> list[tuple[str, dict[str, Any], str]]:
    """(path, query, the parameter named in the 422) of every text query parameter."""
    experiment = f"/v1/experiments/{experiment_id}"
    return [
        ("/v1/experiments", {"name": f"a{bad}b"}, "name"),
        ("/v1/experiments", {"tag": f"a{bad}"}, "tag"),
        ("/v1/experiments", {"dataset": bad}, "dataset"),
        ("/v1/experiments", {"model": f"mlp{bad}"}, "model"),
        ("/v1/experiments", {"optimizer": f"adam{bad}"}, "optimizer"),
        ("/v1/experiments", {"cursor": f"abc{bad}"}, "cursor"),
        ("/v1/compare", {"ids": f"{experiment_id}{bad}"}, "ids"),
        ("/v1/compare.png", {"ids": experiment_id, "metric": f"test_acc{bad}"}, "metric"),
        (f"{experiment}/metrics", {"name": f"test_acc{bad}"}, "name"),
        (f"{experiment}/metrics/history", {"name": f"{bad}"}, "name"),
        (f"{experiment}/metrics/history", {"cursor": f"W10{bad}"}, "cursor"),
    ]


@pytest.mark.parametrize("bad", CONTROL_CHARACTERS, ids=repr)
def test_text_query_with_a_control_character_is_422_naming_it(alice: TestClient, bad: str) -> None:
    experiment_id = submitted(alice)["id"]
    for path, query, name in text_queries(experiment_id, bad):
        response = alice.get(path, params=query)
        assert_invalid(response, location="query", field=name)
        assert "control character" in response.text, response.text


@pytest.mark.parametrize("bad", CONTROL_CHARACTERS, ids=repr)
def test_body_text_with_a_control_character_is_422_naming_it(alice: TestClient, bad: str) -> None:
    response = alice.post("/v1/experiments", json=digits_body(name=f"run{bad}"))
    assert_invalid(response, location="body", field="name")
    response = alice.post("/v1/experiments", json=digits_body(tags=["ok", f"x{bad}y"]))
    assert_invalid(response, location="body", field="tags.1")
    response = alice.post(
        "/v1/experiments", json=digits_body(), headers={"Idempotency-Key": f"k{bad}"}
    )
    assert response.status_code in (400, 422), response.text


def test_text_without_control_characters_is_accepted(alice: TestClient) -> None:
    made = submitted(alice, name="Adam vs AdaMax — ε=1e-8", tags=["été", "🙂"])
    listed = alice.get("/v1/experiments", params={"name": made["name"], "tag": ["été", "🙂"]})
    assert listed.status_code == 200, listed.text
    assert [experiment["id"] for experiment in listed.json()["data"]] == [made["id"]]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/experiments/%00",
        "/v1/experiments/a%00b/metrics",
        "/v1/experiments/not-an-id",
        "/v1/experiments/%00/metrics/history",
        "/v1/experiments/%00/plot.png",
        "/v1/experiments/%00/checkpoint",
    ],
)
def test_path_id_that_cannot_be_an_id_is_404_without_reading_experiments(
    alice: TestClient, statements: Statements, path: str
) -> None:
    response, seen = statements.during(alice.get, path)
    assert response.status_code == 404, response.text
    assert not [statement for statement in seen if "experiments" in statement], seen
    cancelled = alice.post("/v1/experiments/%00/cancel")
    assert cancelled.status_code == 404, cancelled.text


def test_compare_id_that_cannot_be_an_id_is_404(alice: TestClient) -> None:
    experiment_id = submitted(alice)["id"]
    response = alice.get("/v1/compare", params={"ids": f"{experiment_id},not-an-id"})
    assert response.status_code == 404, response.text
    assert "not-an-id" in response.json()["detail"]


# --- integers: 64 bits at most --------------------------------------------------------------


def test_step_beyond_64_bits_is_422(alice: TestClient) -> None:
    experiment = f"/v1/experiments/{submitted(alice)['id']}"
    for path in (f"{experiment}/metrics", f"{experiment}/metrics/history"):
        for name in ("step_min", "step_max"):
            assert_invalid(
                alice.get(path, params={name: BIGINT_MAX + 1}), location="query", field=name
            )
            assert_invalid(alice.get(path, params={name: 10**30}), location="query", field=name)
            assert alice.get(path, params={name: BIGINT_MAX}).status_code == 200


@pytest.mark.parametrize(
    "keyset",
    [
        [BIGINT_MAX + 1, "train_loss"],
        [10**40, "train_loss"],
        [-1, "train_loss"],
        [1, "train\x00loss"],
        [1.5, "train_loss"],
        [True, "train_loss"],
    ],
    ids=repr,
)
def test_history_cursor_holding_what_no_page_returns_is_422(
    alice: TestClient, keyset: list[Any]
) -> None:
    experiment_id = submitted(alice)["id"]
    response = alice.get(
        f"/v1/experiments/{experiment_id}/metrics/history",
        params={"cursor": encode_cursor(keyset)},
    )
    assert response.status_code == 422, response.text
    assert "cursor" in response.text


@pytest.mark.parametrize(
    "keyset",
    [
        {"sort": "name", "value": "a\x00", "id": str(uuid.uuid4())},
        {"sort": "name", "value": "a", "id": "x\x00"},
        {"sort": "name", "value": "a", "id": 10**40},
        {"sort": "-created_at", "value": "2026-01-01T00:00:00\x00", "id": str(uuid.uuid4())},
    ],
    ids=repr,
)
def test_list_cursor_holding_what_no_page_returns_is_422(
    alice: TestClient, keyset: dict[str, Any]
) -> None:
    submitted(alice)
    response = alice.get(
        "/v1/experiments", params={"cursor": encode_cursor(keyset), "sort": keyset["sort"]}
    )
    assert response.status_code == 422, response.text
    assert "cursor" in response.text


# --- repeatable parameters: a stated maximum ------------------------------------------------


def repeated_queries(experiment_id: str) -> list[tuple[str, str, int, str]]:
    """(path, parameter, its maximum, a value) of every repeatable query parameter."""
    experiment = f"/v1/experiments/{experiment_id}"
    return [
        ("/v1/experiments", "status", MAX_FILTER_VALUES, "queued"),
        ("/v1/experiments", "dataset", MAX_FILTER_VALUES, "digits"),
        ("/v1/experiments", "model", MAX_FILTER_VALUES, "mlp"),
        ("/v1/experiments", "optimizer", MAX_FILTER_VALUES, "adam"),
        ("/v1/experiments", "name", MAX_FILTER_VALUES, "experiment"),
        ("/v1/experiments", "tag", MAX_TAGS, "t"),
        ("/v1/compare", "ids", MAX_COMPARED, experiment_id),
        ("/v1/compare.svg", "metric", MAX_METRIC_NAMES, "test_acc"),
        (f"{experiment}/metrics", "name", MAX_METRIC_NAMES, "test_acc"),
        (f"{experiment}/metrics/history", "name", MAX_METRIC_NAMES, "test_acc"),
    ]


def test_repeatable_parameter_beyond_its_maximum_is_422_naming_it(alice: TestClient) -> None:
    experiment_id = submitted(alice)["id"]
    for path, name, maximum, value in repeated_queries(experiment_id):
        extra = {"ids": experiment_id} if name == "metric" else {}
        at_most = alice.get(path, params={name: [value] * maximum, **extra})
        # A comparison figure of runs without points is a 409 (nothing to draw): accepted.
        accepted = 409 if path.startswith("/v1/compare.") else 200
        assert at_most.status_code == accepted, (path, name, at_most.text[:300])
        beyond = alice.get(path, params={name: [value] * (maximum + 1), **extra})
        assert_invalid(beyond, location="query", field=name)
        assert str(maximum) in beyond.text, beyond.text


def test_tag_filter_is_one_subquery_whatever_the_number_of_tags(
    alice: TestClient, statements: Statements
) -> None:
    tags = [f"t{index}" for index in range(MAX_TAGS)]
    tagged = submitted(alice, tags=tags)
    submitted(alice, tags=tags[:-1])
    submitted(alice)

    def listing(wanted: list[str]) -> tuple[list[str], int]:
        response, seen = statements.during(
            lambda: alice.get("/v1/experiments", params={"tag": wanted})
        )
        assert response.status_code == 200, response.text
        ids = [experiment["id"] for experiment in response.json()["data"]]
        listing = [statement for statement in seen if "WHERE experiments.tenant_id" in statement]
        return ids, sum(statement.count("experiment_tags") for statement in listing)

    every, every_statements = listing(tags)
    one, one_statements = listing(tags[:1])
    assert every == [tagged["id"]]
    assert len(one) == 2
    assert 0 < every_statements == one_statements


# --- answers: no server paths ---------------------------------------------------------------


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def test_read_experiment_names_its_checkpoints_without_server_paths(
    api: InProcessApi, alice: TestClient, tmp_path: Path
) -> None:
    experiment_id = submitted(alice)["id"]
    folder = tmp_path / "state" / "checkpoints" / experiment_id
    files = [
        CheckpointFile(path=str(folder / name), epoch=epoch, size_bytes=10, modified_at=utc_now())
        for epoch, name in ((1, "epoch-0001.pt"), (None, "final.safetensors"))
    ]
    with api.store.session() as session:
        sync_checkpoints(session=session, experiment_id=experiment_id, files=files)

    answer = alice.get(f"/v1/experiments/{experiment_id}")

    assert answer.status_code == 200, answer.text
    checkpoints = answer.json()["checkpoints"]
    assert sorted(checkpoint["name"] for checkpoint in checkpoints) == [
        "epoch-0001.pt",
        "final.safetensors",
    ]
    leaked = [item for item in strings_in(answer.json()) if "/" in item or str(tmp_path) in item]
    assert not leaked, leaked
    assert str(tmp_path) not in answer.text


# --- another tenant's id: the very answer of a missing one ------------------------------------


def tenant_probes(experiment_id: str) -> list[tuple[str, str]]:
    experiment = f"/v1/experiments/{experiment_id}"
    return [
        ("GET", experiment),
        ("GET", f"{experiment}/metrics"),
        ("GET", f"{experiment}/metrics/history"),
        ("GET", f"{experiment}/plot.png"),
        ("GET", f"{experiment}/checkpoint"),
        ("POST", f"{experiment}/cancel"),
        ("GET", f"/v1/compare?ids={experiment_id}"),
    ]


def test_another_tenants_id_answers_as_a_missing_id_by_the_same_statements(
    api: InProcessApi, alice: TestClient, statements: Statements
) -> None:
    bob = tenant_client(api, "bob")
    theirs = submitted(alice)["id"]
    missing = str(uuid.uuid4())
    bob.get("/v1/experiments")  # the first request of a client warms its key's lookups
    for (method, their_path), (_, missing_path) in zip(
        tenant_probes(theirs), tenant_probes(missing), strict=True
    ):
        their_answer, their_sql = statements.during(bob.request, method, their_path)
        missing_answer, missing_sql = statements.during(bob.request, method, missing_path)
        assert their_answer.status_code == missing_answer.status_code == 404, their_path
        assert their_answer.text.replace(theirs, "ID") == missing_answer.text.replace(missing, "ID")
        assert their_answer.headers == missing_answer.headers
        assert their_sql == missing_sql, (their_path, their_sql, missing_sql)


# --- statement timeout ----------------------------------------------------------------------

SLOW_STATEMENTS = {
    "postgresql": "SELECT pg_sleep(30)",
    # Long (a minute or so), but finite: without a guard the test fails, never hangs.
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000000) "
    "SELECT count(*) FROM n",
}
TIMEOUT_S = 0.5


@pytest.fixture
def impatient_store(each_store_url: str) -> Iterator[Store]:
    """The test's store on an engine whose statements may run TIMEOUT_S."""
    engine = make_engine(each_store_url, statement_timeout_s=TIMEOUT_S)
    try:
        yield Store(url=each_store_url, engine=engine, session_factory=make_session_factory(engine))
    finally:
        engine.dispose()


def test_request_whose_statement_outlives_the_timeout_is_503(
    impatient_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.deps import get_current_tenant
    from api.main import app
    from core.store.tenants import DEFAULT_TENANT

    dialect = impatient_store.engine.dialect.name
    with inprocess_api(impatient_store, monkeypatch) as api:
        client = tenant_client(api, "slow")

        def slow_tenant() -> Any:
            with impatient_store.session() as session:
                session.execute(text(SLOW_STATEMENTS[dialect]))
            return DEFAULT_TENANT

        monkeypatch.setitem(app.dependency_overrides, get_current_tenant, slow_tenant)
        started = time.monotonic()
        response = client.get("/v1/experiments")
        elapsed_s = time.monotonic() - started

    assert response.status_code == 503, response.text
    assert "ADAMLAB_STATEMENT_TIMEOUT_S" in response.json()["detail"]
    assert elapsed_s < TIMEOUT_S + 5, elapsed_s


@pytest.fixture
def impatient_postgres_store(migrated_postgres_url: str) -> Iterator[Store]:
    engine = make_engine(migrated_postgres_url, statement_timeout_s=TIMEOUT_S)
    try:
        yield Store(
            url=migrated_postgres_url, engine=engine, session_factory=make_session_factory(engine)
        )
    finally:
        engine.dispose()


def test_listing_blocked_by_a_lock_is_cut_off_at_the_timeout_on_postgresql(
    impatient_postgres_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement waiting on a lock counts against the timeout too (SQLite's readers
    never wait on a writer: WAL)."""
    store = impatient_postgres_store
    with inprocess_api(store, monkeypatch) as api:
        client = tenant_client(api, "blocked")
        locker = make_engine(store.url)
        try:
            with locker.begin() as connection:
                connection.execute(text("LOCK TABLE experiments IN ACCESS EXCLUSIVE MODE"))
                started = time.monotonic()
                response = client.get("/v1/experiments")
                elapsed_s = time.monotonic() - started
        finally:
            locker.dispose()
        after = client.get("/v1/experiments")
    assert response.status_code == 503, response.text
    assert TIMEOUT_S <= elapsed_s < TIMEOUT_S + 5, elapsed_s
    assert after.status_code == 200, after.text
