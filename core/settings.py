"""The one settings object of every optarena process, read from ``OPTARENA_*`` variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Defaults give the embedded single-machine set-up: SQLite for data and as the broker."""

    model_config = SettingsConfigDict(env_prefix="OPTARENA_", extra="ignore")

    database_url: str = Field("sqlite:///var/optarena.db", description="SQLAlchemy URL of the job store")
    broker_url: str = Field("sqla+sqlite:///var/broker.sqlite", description="Celery broker URL")
    shard_size: int = Field(40, ge=1, description="most runs one shard (one Celery task) trains")
    shard_examples: int = Field(40_000, ge=1, description="most examples per step of one shard: "
                                "full-batch runs are cut into smaller shards")
    flush_seconds: float = Field(0.5, gt=0, description="how often the engine hands metrics over")
    write_interval: float = Field(0.25, ge=0, description="least time between two metric writes")
    checkpoint_every: int = Field(1000, ge=0, description="steps between shard checkpoints; 0 = none")
    heartbeat_seconds: float = Field(5.0, gt=0, description="a running shard's heartbeat period")
    cancel_poll_seconds: float = Field(0.3, gt=0, description="least time between cancel-flag checks")
    broker_poll_seconds: float = Field(0.1, gt=0, description="how often a worker polls a SQL broker")
    sse_poll_seconds: float = Field(0.5, gt=0, description="how often a watched job's event log is "
                                    "read for its streams, at most (a backlog is read on at once)")
    sse_max_lifetime: float = Field(3600.0, gt=0, description="a stream closes after this many seconds")
    sse_feed_bytes: int = Field(16_000_000, ge=1, description="bytes of a job's latest events that each "
                                "API process keeps for all the streams of that job (read from the "
                                "database once for all of them); a stream further behind reads the "
                                "gap from the database")
    page_size_max: int = Field(200, ge=1)
    response_cache_bytes_per_job: int = Field(16_000_000, ge=0, description="bytes of a finished job's "
                                              "read responses kept for reuse (response_cache); 0 = none")
    live_cache_bytes: int = Field(64_000_000, ge=0, description="bytes of running jobs' read bodies, and "
                                  "again of their decoded curves, kept per API process (api/live_cache.py, "
                                  "api/metrics/live_series.py); 0 = none")

    # -- reliability: the database, not the broker, says who trains what ----------------
    lease_seconds: float = Field(30.0, gt=0, description="a shard's lease; renewed every heartbeat")
    max_attempts: int = Field(3, ge=1, description="claims of a shard before it is marked failed")
    worker_ttl_seconds: float = Field(30.0, gt=0, description="a worker not seen for this long is "
                                      "gone: its optimizers are no longer offered")
    sweep_seconds: float = Field(5.0, gt=0, description="period of each worker's sweeper")
    resend_after_seconds: float = Field(120.0, gt=0,
                                        description="re-send a job or shard still queued after this")
    db_retry_seconds: float = Field(120.0, ge=0, description="how long a worker retries a failed write")

    # -- security and limits (each breach answers with the setting's name) ---------------
    bind_host: str = Field("127.0.0.1", description="the address the API binds (set by the Makefile)")
    cors_origins: list[str] = Field([], description="origins allowed by CORS; none by default")
    session_cookie_secure: bool = Field(False, description="mark the session cookie Secure (HTTPS)")
    max_body_bytes: int = Field(1_000_000, ge=1, description="largest request body (413 above)")
    max_runs_per_job: int = Field(2000, ge=1,
                                  description="runs of one job (arms x seeds, times a study's grid)")
    max_steps_per_run: int = Field(1_000_000, ge=1, description="train.steps of one job")
    max_params_per_net: int = Field(2_000_000, ge=1, description="parameters of one net")
    max_compute_per_job: float = Field(5e10, gt=0, description="runs x steps x parameters of one job")
    max_active_jobs_per_owner: int = Field(10, ge=1, description="queued or running jobs (429 above)")
    max_dataset_bytes: int = Field(5_000_000, ge=1, description="largest CSV upload (413 above); "
                                   "POST /datasets only, other bodies keep max_body_bytes")
    max_dataset_rows: int = Field(200_000, ge=20, description="data rows of one uploaded CSV")
    max_dataset_columns: int = Field(1_000, ge=2, description="columns (features and target) of one CSV")
    rate_limit_per_second: float = Field(20.0, ge=0, description="requests per key; 0 = no limit")
    rate_limit_burst: int = Field(200, ge=1, description="requests a key may send at once")

    # -- webhooks (core/webhooks.py, worker/webhooks.py) -----------------------------------
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        ["127.0.0.1", "::1", "localhost"], description="hosts a job's notify.url may name, comma-"
        "separated; '*.example.org' allows its subdomains. Loopback only by default")
    webhook_timeout_seconds: float = Field(5.0, gt=0, description="one delivery attempt's timeout")
    webhook_max_attempts: int = Field(5, ge=1, description="attempts of one delivery before it fails")
    webhook_backoff_seconds: float = Field(2.0, gt=0, description="wait before the second attempt; "
                                           "doubled before each next one")
    webhook_poll_seconds: float = Field(1.0, gt=0, description="how often each worker sends due deliveries")

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, v: object) -> object:
        return [h.strip() for h in v.split(",") if h.strip()] if isinstance(v, str) else v

    # -- observability ---------------------------------------------------------------------
    log_format: Literal["text", "json"] = Field("text", description="log lines as plain text, or as "
                                                "one JSON object each (job_id, shard_id, worker)")
    worker_metrics_port: int = Field(0, ge=0, le=65535, description="port on which each worker "
                                     "serves Prometheus metrics; 0 = none")
    worker_metrics_host: str = Field("127.0.0.1", description="address of a worker's metrics port; "
                                     "the port has no key check, so widen it on a private network only")


@lru_cache
def get_settings() -> Settings:
    return Settings()
