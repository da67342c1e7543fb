"""The API app in the test's own process, on a store of the test's (SQLite or a real
PostgreSQL), keys required: each request reaches the real routes, dependencies, store
functions and error handlers; only the broker is replaced (a submission's job is
recorded, not sent). The app's lifespan (migration check, reaper) is not run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from tests.support.store import Store


@dataclass
class InProcessApi:
    store: Store
    dispatched: list[tuple[str, str]] = field(default_factory=list)

    def new_key(self, tenant: str) -> str:
        from core.store.tenants import create_api_key

        with self.store.session() as session:
            return create_api_key(session=session, tenant_name=tenant).key

    def client(self, key: str) -> TestClient:
        from api.main import app

        return TestClient(
            app,
            base_url="http://127.0.0.1",
            headers={"Authorization": f"Bearer {key}"},
            raise_server_exceptions=False,
        )


@contextmanager
def inprocess_api(store: Store, monkeypatch: Any) -> Iterator[InProcessApi]:
    """The app answering on ``store``'s sessions; a test's ``monkeypatch`` undoes the
    dependency overrides."""
    import core.store.session as store_session
    from api.deps import get_dispatch, get_session
    from api.main import app
    from core.settings import settings

    api = InProcessApi(store=store)

    def session() -> Iterator[Any]:
        with store.session() as opened:
            yield opened

    async def dispatch() -> Any:
        return lambda experiment_id, queue: api.dispatched.append((experiment_id, queue))

    monkeypatch.setattr(settings, "auth", "required")
    # The key is looked up before any dependency runs (api.auth.KeyedRoute), in a session
    # of the process's default store: that store is the test's too.
    monkeypatch.setattr(store_session, "default_session_factory", lambda: store.session_factory)
    monkeypatch.setitem(app.dependency_overrides, get_session, session)
    monkeypatch.setitem(app.dependency_overrides, get_dispatch, dispatch)
    yield api
