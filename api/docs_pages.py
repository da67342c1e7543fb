"""ReDoc at /redoc, fully offline. fastapi-offline serves Swagger UI and ReDoc's assets
from the installed package, but ReDoc's bundle still draws its sidebar attribution with an
image from cdn.redoc.ly; this module serves the same bundle with that one address pointed
at the package's own favicon, so the page makes no request off the service."""

from __future__ import annotations

import functools
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from starlette.responses import HTMLResponse, Response

_ASSETS_URL = "/static-offline-docs"
_BUNDLE_URL = "/redoc-offline/redoc.standalone.js"
_REDOC_BUNDLE = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@functools.cache
def _offline_bundle() -> bytes:
    return _REDOC_BUNDLE.read_text().replace(_CDN_LOGO, f"{_ASSETS_URL}/favicon.png").encode()


def install_redoc(app: FastAPI, *, redoc_url: str = "/redoc") -> None:
    @app.get(redoc_url, include_in_schema=False)
    async def redoc_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{_BUNDLE_URL}",
            redoc_favicon_url=f"{root}{_ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    @app.get(_BUNDLE_URL, include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(
            _offline_bundle(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )
