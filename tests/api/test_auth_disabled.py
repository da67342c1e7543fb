"""The API's own loopback-only answer when ADAMLAB_AUTH=disabled, whatever address
uvicorn was told to bind (``adamlab serve``'s rules: tests/adamlab/test_serve.py)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from api.deps import get_session
from api.main import app
from core.settings import settings


def test_api_without_keys_answers_only_on_a_loopback_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever uvicorn was told to bind, ADAMLAB_AUTH=disabled serves a request only if it
    arrived on a loopback address of the machine (the ASGI scope's server address)."""
    monkeypatch.setattr(settings, "auth", "disabled")
    monkeypatch.setitem(app.dependency_overrides, get_session, lambda: None)  # no store used

    def catalog_via(base_url: str) -> httpx.Response:
        """GET /v1/catalog in-process, as a connection to ``base_url`` (the ASGI scope's
        server address); the app's lifespan (store, broker) is not run."""

        async def get() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
                return await client.get("/v1/catalog")

        return asyncio.run(get())

    refused = catalog_via("http://10.0.0.7:8000")
    assert refused.status_code == 403
    assert "ADAMLAB_AUTH=disabled" in refused.json()["detail"]
    assert catalog_via("http://127.0.0.1:8000").status_code == 200
    assert catalog_via("http://[::1]:8000").status_code == 200
