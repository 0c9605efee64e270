"""The one settings object of every optarena process, read from ``OPTARENA_*`` variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Defaults give the embedded single-machine set-up: SQLite for data and as the broker."""

    model_config = SettingsConfigDict(env_prefix="OPTARENA_", extra="ignore")

    database_url: str = Field("sqlite:///var/optarena.db", description="SQLAlchemy URL of the job store")
    broker_url: str = Field("sqla+sqlite:///var/broker.sqlite", description="Celery broker URL")
    shard_size: int = Field(40, ge=1, description="most runs one shard (one Celery task) trains")
    flush_seconds: float = Field(0.5, gt=0, description="how often the engine hands metrics over")
    write_interval: float = Field(0.25, ge=0, description="least time between two metric writes")
    checkpoint_every: int = Field(1000, ge=0, description="steps between shard checkpoints; 0 = none")
    heartbeat_seconds: float = Field(5.0, gt=0, description="a running shard's heartbeat period")
    cancel_poll_seconds: float = Field(0.3, gt=0, description="least time between cancel-flag checks")
    broker_poll_seconds: float = Field(0.1, gt=0, description="how often a worker polls a SQL broker")
    sse_poll_seconds: float = Field(0.2, gt=0, description="how often a stream looks for new events")
    sse_max_lifetime: float = Field(3600.0, gt=0, description="a stream closes after this many seconds")
    page_size_max: int = Field(200, ge=1)


@lru_cache
def get_settings() -> Settings:
    return Settings()
