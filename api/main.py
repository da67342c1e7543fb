"""The FastAPI app: routers under /v1 (each request needs an API key, ``api.auth``), JSON
errors, a body size limit, live event streams (``api.routes.events``; one Redis
subscription per process, ``api.event_hub``), an OpenAPI document with every answer
(``api.openapi``), request latencies for GET /metrics, and a lifespan that checks the
store and runs the reaper. The Swagger UI (/docs), ReDoc (/redoc) and the dashboard (/,
``api/routes/dashboard.py``) are served from installed assets, never from a CDN. Serve it
with ``adamlab serve`` or
``uvicorn api.main:app`` (with REDIS_URL set)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from api.deps import get_current_tenant
from api.docs_pages import install_redoc
from api.errors import install_error_handlers
from api.event_hub import hub
from api.middleware import BodySizeLimitMiddleware
from api.openapi import install_openapi
from api.prometheus import RequestLatencyMiddleware
from api.reaper import run_reaper
from api.routes import (
    catalog,
    compare,
    events,
    experiments,
    health,
    logs,
    manage,
    metrics,
    plots,
    prometheus,
    session,
    sweep_report,
    sweeps,
    trajectories,
    weights,
)
from api.routes.dashboard import install_dashboard
from api.store_outage import install_store_outage_handler
from core.celery_app import BrokerNotConfiguredError
from core.settings import settings
from core.store.migrate import current_revision, head_revision
from core.store.session import default_engine


class StoreNotMigratedError(RuntimeError):
    pass


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    if settings.redis_url is None:
        raise BrokerNotConfiguredError()
    engine = default_engine()
    revision, head = current_revision(engine), head_revision()
    if revision != head:
        raise StoreNotMigratedError(
            f"the store ({engine.url.render_as_string(hide_password=True)}) is at migration "
            f"{revision}, this code needs {head}: run `adamlab migrate`"
        )
    # Everything alive now (modules, the app, the engine) lives as long as the process:
    # keep it out of the collector's full passes, which otherwise walk it all and made
    # one in ten 10,000-point curve reads ~10x slower (gc of the rows' tuples).
    gc.freeze()
    reaper = asyncio.create_task(run_reaper(settings.reaper_interval_s), name="reaper")
    try:
        yield
    finally:
        reaper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reaper
        await hub.close()
        engine.dispose()


def create_app() -> FastAPI:
    # /docs (Swagger UI) and /redoc load their scripts and styles from the installed
    # fastapi-offline package, never from a CDN: both pages render on a machine with no
    # network (ReDoc through api/docs_pages.py).
    app = FastAPIOffline(
        redoc_url=None,
        title="adamlab",
        summary="Optimizer experiments as a service: Adam, AdaMax and baselines.",
        version="1",
        lifespan=lifespan,
    )
    install_redoc(app)
    install_error_handlers(app)
    install_store_outage_handler(app)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLatencyMiddleware)  # added last: outermost, times everything
    # Every /v1 route answers only a request with a valid key (ADAMLAB_AUTH=required).
    for router in (
        experiments.router,
        manage.router,
        logs.router,
        metrics.router,
        plots.router,
        weights.router,
        compare.router,
        catalog.router,
        sweeps.router,
        sweep_report.router,
        trajectories.router,
        events.router,
        session.router,
    ):
        app.include_router(router, dependencies=[Depends(get_current_tenant)])
    # Sign-in checks the key of its body itself (api/routes/session.py).
    app.include_router(session.sign_in_router)
    for router in (health.router, prometheus.router):
        app.include_router(router)
    # The dashboard's pages and assets (no data of their own: they call /v1 as any client).
    install_dashboard(app)
    # Every status each operation can answer, derived from the routes (api/openapi.py).
    install_openapi(app)
    return app


app = create_app()
