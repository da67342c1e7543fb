"""API keys and tenants in the store: authentication, the per-tenant cap and its
Retry-After, and migration 0002 on a populated store (SQLite and PostgreSQL). The
``adamlab keys`` command (create, list, revoke) and what the store keeps of a key:
tests/adamlab/test_keys_command.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text, update

from core.spec import ExperimentSpec
from core.store.cancel import request_cancel
from core.store.experiments import TenantLimitError, create_experiment, get_experiment
from core.store.lifecycle import claim_experiment
from core.store.migrate import alembic_config, upgrade_to_head
from core.store.models import DEFAULT_TENANT_ID, ExperimentRow
from core.store.session import make_engine, make_session_factory
from core.store.tenants import (
    KeyRefusal,
    TenantIdentity,
    authenticate_api_key,
    create_api_key,
    get_or_create_tenant,
    revoke_api_key,
)
from tests.factories import digits_body
from tests.support.postgres import POSTGRES_TEST_DATABASE, postgres_database, postgres_server


def spec(**overrides: object) -> ExperimentSpec:
    return ExperimentSpec.model_validate(digits_body(**overrides))


# --- authentication ---------------------------------------------------------------------------


def test_authentication_finds_the_tenant_of_a_valid_key_only(sessions: object) -> None:
    with sessions() as session:
        issued = create_api_key(session=session, tenant_name="carol")
        found = authenticate_api_key(session=session, key=issued.key)
        assert found == TenantIdentity(id=found.id, name="carol", key_id=issued.id)
        assert found.id != DEFAULT_TENANT_ID
        tampered = issued.key[:-1] + ("a" if issued.key[-1] != "a" else "b")
        assert authenticate_api_key(session=session, key=tampered) is KeyRefusal.UNKNOWN
        assert authenticate_api_key(session=session, key="") is KeyRefusal.UNKNOWN
        again = create_api_key(session=session, tenant_name="carol")
        assert again.key != issued.key
        assert authenticate_api_key(session=session, key=again.key).id == found.id
        revoke_api_key(session=session, key_id=issued.id)
        assert authenticate_api_key(session=session, key=issued.key) is KeyRefusal.REVOKED
        assert authenticate_api_key(session=session, key=again.key).id == found.id


# --- tenants in the experiment store ----------------------------------------------------------


def test_experiments_are_seen_and_cancelled_by_their_tenant_only(sessions: object) -> None:
    with sessions() as session:
        mine = get_or_create_tenant(session=session, name="mine").id
        theirs = get_or_create_tenant(session=session, name="theirs").id
        experiment, _ = create_experiment(session=session, tenant_id=mine, spec=spec(), queue="cpu")
        found = get_experiment(session=session, experiment_id=experiment.id, tenant_id=theirs)
        assert found is None
        assert (
            request_cancel(session=session, experiment_id=experiment.id, tenant_id=theirs).value
            == "not_found"
        )
        session.expire_all()
        assert (
            get_experiment(session=session, experiment_id=experiment.id, tenant_id=mine).status
            == "queued"
        )
        assert (
            get_experiment(session=session, experiment_id=experiment.id, tenant_id=None) is not None
        )


def test_cap_counts_queued_and_running_and_retry_after_is_the_soonest_eta(
    sessions: object,
) -> None:
    with sessions() as session:
        tenant = get_or_create_tenant(session=session, name="capped").id
        ids = [
            create_experiment(
                session=session, tenant_id=tenant, spec=spec(seed=seed), queue="cpu", max_active=2
            )[0].id
            for seed in range(2)
        ]
        with pytest.raises(TenantLimitError) as refused:
            create_experiment(
                session=session, tenant_id=tenant, spec=spec(), queue="cpu", max_active=2
            )
        assert (refused.value.active, refused.value.limit, refused.value.retry_after_s) == (
            2,
            2,
            60,
        )

        claim_experiment(
            session=session,
            experiment_id=ids[0],
            worker="w",
            heartbeat_timeout_s=30,
            max_attempts=3,
        )
        session.execute(update(ExperimentRow).where(ExperimentRow.id == ids[0]).values(eta_s=41.2))
        session.commit()
        with pytest.raises(TenantLimitError) as refused:
            create_experiment(
                session=session, tenant_id=tenant, spec=spec(), queue="cpu", max_active=2
            )
        assert refused.value.retry_after_s == 42
        # An idempotent replay is not a new experiment: no cap applies to it.
        request_cancel(session=session, experiment_id=ids[1], tenant_id=tenant)
        replayed, created = create_experiment(
            session=session, tenant_id=tenant, spec=spec(seed=9), queue="cpu",
            idempotency_key="k", max_active=2,
        )  # fmt: skip
        assert created
        again, created_again = create_experiment(
            session=session, tenant_id=tenant, spec=spec(seed=9), queue="cpu",
            idempotency_key="k", max_active=2,
        )  # fmt: skip
        assert (again.id, created_again) == (replayed.id, False)


# --- migration 0002 ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def store_at_0001(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store at migration 0001 (before tenants)."""
    from alembic import command

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        command.upgrade(alembic_config(url), "0001")
        yield url
        return
    with (
        postgres_server(tmp_path / "pgdata") as admin_url,
        postgres_database(admin_url, f"{POSTGRES_TEST_DATABASE}_keys") as url,
    ):
        command.upgrade(alembic_config(url), "0001")
        yield url


def test_migration_gives_old_experiments_to_the_default_tenant_and_keeps_their_data(
    store_at_0001: str,
) -> None:
    created = datetime(2026, 1, 1, 12, 0)
    engine = create_engine(store_at_0001)
    with engine.begin() as connection:
        for number in (1, 2):
            connection.execute(
                text(
                    "INSERT INTO experiments (id, name, dataset, model, optimizer, "
                    "requested_device, queue, spec, spec_version, status, idempotency_key, "
                    "cancel_requested, attempts, created_at) VALUES (:id, 'old', 'digits', "
                    "'mlp', 'adam', 'cpu', 'cpu', '{}', 1, 'succeeded', :key, false, 1, :at)"
                ),
                {"id": f"old-{number}", "key": f"key-{number}", "at": created},
            )
        connection.execute(text("INSERT INTO experiment_tags VALUES ('old-1', 'paper', 0)"))
        connection.execute(
            text(
                "INSERT INTO metric_points VALUES ('old-1', 'test_acc', 10, 1, 0.9), "
                "('old-1', 'test_acc', 20, 2, 0.95)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO checkpoints (experiment_id, path, epoch, size_bytes, modified_at) "
                "VALUES ('old-1', '/x/epoch-0002.pt', 2, 10, :at)"
            ),
            {"at": created},
        )
    engine.dispose()

    upgrade_to_head(store_at_0001)

    engine = make_engine(store_at_0001)
    with engine.connect() as connection:
        tenants = connection.execute(text("SELECT tenant_id FROM experiments")).scalars().all()
        counts = [
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("experiment_tags", "metric_points", "checkpoints")
        ]
    assert tenants == [DEFAULT_TENANT_ID, DEFAULT_TENANT_ID]
    assert counts == [1, 2, 1]  # nothing cascaded away while the table was copied
    with make_session_factory(engine)() as session:
        other = get_or_create_tenant(session=session, name="newcomer").id
        # The old Idempotency-Key is the default tenant's: another tenant may use it.
        _, created_anew = create_experiment(
            session=session, tenant_id=other, spec=spec(), queue="cpu", idempotency_key="key-1"
        )
        assert created_anew
        old = get_experiment(session=session, experiment_id="old-1", tenant_id=DEFAULT_TENANT_ID)
        assert old.created_at == created.replace(tzinfo=UTC)
    engine.dispose()
