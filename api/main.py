"""The app factory: ``uvicorn api.main:app`` or ``create_app()`` in tests."""

from __future__ import annotations

from fastapi import FastAPI

from api import errors
from api.catalogue.endpoints import router as catalogue_router
from api.events.endpoints import router as events_router
from api.health.endpoints import router as health_router
from api.jobs.endpoints import router as jobs_router
from api.metrics.endpoints import router as metrics_router

DESCRIPTION = """Compare neural-network optimizers fairly: submit a comparison job, workers train every
arm on the same data, batches and initial weights, and the metrics come back as JSON
(`/jobs/{id}/metrics`) or as a live stream (`/jobs/{id}/events`, `/jobs/{id}/metrics.jsonl`)."""


def create_app() -> FastAPI:
    app = FastAPI(title="optarena", version="0.1.0", description=DESCRIPTION)
    errors.install(app)
    for router in (jobs_router, metrics_router, events_router, catalogue_router, health_router):
        app.include_router(router)
    return app


app = create_app()
