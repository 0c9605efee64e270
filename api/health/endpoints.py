"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.broker import broker_reachable
from api.deps import SettingsDep
from api.health.schemas import Health, Readiness
from models.db import engine_for

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, description="The process is up.")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _database_ok(url: str) -> bool:
    try:
        with engine_for(url).connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False


@router.get("/readyz", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "the database or the broker is unreachable"}},
            description="The database and the broker are reachable (503 otherwise).")
async def readyz(settings: SettingsDep) -> JSONResponse:
    db = await run_in_threadpool(_database_ok, settings.database_url)
    broker = await run_in_threadpool(broker_reachable, settings)
    ok = db and broker
    return JSONResponse({"status": "ready" if ok else "unavailable", "database": db, "broker": broker},
                        status_code=200 if ok else 503)
