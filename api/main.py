"""The app factory: ``uvicorn api.main:app`` or ``create_app(settings)`` in tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from api import errors, openapi
from api.catalogue.endpoints import router as catalogue_router
from api.dashboard.endpoints import router as dashboard_router
from api.datasets.endpoints import UPLOAD_PATH
from api.datasets.endpoints import router as datasets_router
from api.deps import current_principal
from api.docs.endpoints import router as docs_router
from api.events.endpoints import router as events_router
from api.health.endpoints import router as health_router
from api.jobs.endpoints import router as jobs_router
from api.metrics.endpoints import router as metrics_router
from api.observability.endpoints import router as prometheus_router
from api.observability.http import ObservabilityMiddleware
from api.reports.endpoints import router as reports_router
from api.security.middleware import AuthMiddleware, BodyLimitMiddleware
from api.security.replies import PROTECTED_RESPONSES
from api.security.startup import refuse_open_local_keys
from api.session.endpoints import router as session_router
from api.session.login import router as login_router
from api.studies.endpoints import profiles_router
from api.studies.endpoints import router as studies_router
from core import logs
from core.settings import Settings, get_settings

DESCRIPTION = """Compare neural-network optimizers fairly: submit a comparison job, workers train every
arm on the same data, batches and initial weights, and the metrics come back as JSON
(`/jobs/{id}/metrics`) or as a live stream (`/jobs/{id}/events`, `/jobs/{id}/metrics.jsonl`).

Every route but health, the docs and `/session` needs an API key (`optarena keys create --name ...`),
sent as `Authorization: Bearer <key>` or set as a cookie by `POST /session` (or, for the local key
of `make run` only, by the sign-in link it prints)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # uvicorn has set up its loggers by the time it imports the app and logs its start after:
    # JSON lines from the first one, if asked.
    logs.configure(settings.log_format)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        refuse_open_local_keys(settings)
        yield

    # FastAPI's own /docs and /redoc load their assets from a CDN; ours serve them locally.
    app = FastAPI(title="optarena", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, generate_unique_id_function=openapi.operation_id)
    errors.install(app)
    openapi.install(app)
    for router in (jobs_router, metrics_router, events_router, catalogue_router, reports_router,
                   studies_router, profiles_router, datasets_router, prometheus_router):
        # Every route that loads a job by id answers 404 for a missing job or another owner's
        # one; the schema says so, once, here.
        for route in router.routes:
            if isinstance(route, APIRoute) and "{job_id}" in route.path:
                route.responses.setdefault(404, {"description": "no such job for this key's owner"})
        app.include_router(router, dependencies=[Depends(current_principal)], responses=PROTECTED_RESPONSES)
    app.include_router(session_router)
    app.include_router(login_router)
    for router in (jobs_router, session_router):
        for route in router.routes:
            # FastAPI answers 400 itself for a body it cannot decode (not UTF-8) before any
            # validation; documented so that clients expect it.
            if isinstance(route, APIRoute) and route.body_field is not None:
                route.responses.setdefault(400, {"description": "the body could not be decoded"})
    app.include_router(health_router)
    app.include_router(docs_router)
    app.include_router(dashboard_router)  # public: the page must load before the login form
    # Added last = runs first: CORS answers preflights, then the key, then the body size.
    # CSV uploads alone may be larger, up to their own limit.
    uploads = {("POST", UPLOAD_PATH): (settings.max_dataset_bytes, "OPTARENA_MAX_DATASET_BYTES")}
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes, routes=uploads)
    app.add_middleware(AuthMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
                           allow_methods=["GET", "POST", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key",
                                          "Last-Event-ID"])
    # Outermost: every answer is counted, the middlewares' refusals too.
    app.add_middleware(ObservabilityMiddleware)
    return app


app = create_app()
