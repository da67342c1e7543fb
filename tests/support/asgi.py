"""Requests to the app in this process (no server, no lifespan: no store or broker is
opened unless the route itself opens one), as a connection to ``base_url``."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.types import ASGIApp

from api.main import app as main_app

LOOPBACK = "http://127.0.0.1:8000"


def request_in_process(
    method: str, path: str, *, app: ASGIApp = main_app, base_url: str = LOOPBACK, **kwargs: Any
) -> httpx.Response:
    """``method path`` answered by ``app`` (``api.main.app``); ``base_url`` is the address
    the request arrived on (the ASGI scope's server address)."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(send())
