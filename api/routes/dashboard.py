"""The dashboard: its pages at ``/`` (runs), ``/runs/{id}``, ``/compare``,
``/sweeps/{id}`` and ``/table1``, their scripts and styles under ``/dashboard/static``
(``api/dashboard/static``, installed with the package) and ``/dashboard/config.json``
(``api.dashboard.style``). The pages hold no data: each asks the /v1 routes for it with
the browser's sign-in cookie (``api.routes.session``), so every answer is the signed-in
tenant's, as for any client."""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from api.dashboard.style import dashboard_config

STATIC_DIR = Path(str(files("api.dashboard") / "static"))
STATIC_URL = "/dashboard/static"

PAGE_HEADERS = {
    # Scripts and styles from this server only; no page may frame the dashboard.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC_DIR / f"{name}.html", media_type="text/html", headers=PAGE_HEADERS)


@router.get("/")
def runs_page() -> FileResponse:
    return _page("runs")


@router.get("/runs/{experiment_id}")
def run_page(experiment_id: str) -> FileResponse:
    return _page("run")


@router.get("/compare")
def compare_page() -> FileResponse:
    return _page("compare")


@router.get("/sweeps/{sweep_id}")
def sweep_page(sweep_id: str) -> FileResponse:
    return _page("sweep")


@router.get("/table1")
def table1_page() -> FileResponse:
    return _page("table1")


@functools.cache
def _config() -> dict[str, object]:
    return dashboard_config()


@router.get("/dashboard/config.json")
def config() -> JSONResponse:
    return JSONResponse(_config(), headers={"Cache-Control": "no-cache"})


def install_dashboard(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="dashboard-static")
