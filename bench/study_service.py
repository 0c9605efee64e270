"""The fair-tuning study through the whole service (``make bench-study-service``): preset
``tuning-wave`` (9 optimizers x 20 learning rates x 5 seeds = 900 runs, then each optimizer's
chosen rate on 5 fresh seeds = 45 runs) submitted over HTTP, planned into shards, trained by
Celery worker processes, stored in PostgreSQL (Redis broker), summarized by GET /study.

Wall time is from the POST to the job's "succeeded"; stage times come from the shards'
start and finish times. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.procs import running, service_env  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def stage_times(url: str, job_id: str) -> dict[int, float]:
    """Seconds from the first shard start to the last shard finish, per stage."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT stage, min(started_at), max(finished_at), count(*) FROM shards "
                                 "WHERE job_id = :j GROUP BY stage ORDER BY stage"), {"j": job_id}).all()
    engine.dispose()
    return {int(s): {"seconds": round((end - start).total_seconds(), 1), "shards": int(n)}
            for s, start, end, n in rows}


def run_job(body: dict[str, Any], workers: int, env_extra: dict[str, str] | None = None,
            progress: bool = False) -> tuple[dict[str, Any], dict[str, Any], float, dict[int, Any]]:
    """``body`` submitted to a fresh service (a database of its own, dropped afterwards; Redis
    db 15; ``workers`` Celery processes of one thread each) and followed to its end: the final
    job, its study view, the wall time from POST to the end, and each stage's shard times."""
    name = f"optarena_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    env = service_env({"OPTARENA_DATABASE_URL": db, "OPTARENA_BROKER_URL": "redis://127.0.0.1:6379/15",
                       "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} | (env_extra or {}))
    try:
        with tempfile.TemporaryDirectory() as tmp, running(
                env, Path(tmp), workers={f"w{i}": "cpu" for i in range(workers)}) as svc:
            t0 = time.perf_counter()
            r = httpx.post(f"{svc.url}/jobs", json=body, headers=svc.headers, timeout=120)
            r.raise_for_status()
            job_id, last = r.json()["id"], ""
            while True:
                job = httpx.get(f"{svc.url}/jobs/{job_id}", headers=svc.headers, timeout=60).json()
                if progress and (job["status"] != last or int(time.perf_counter() - t0) % 60 == 0):
                    print(f"{time.perf_counter() - t0:7.1f} s  {job['status']}  progress "
                          f"{job.get('progress', 0):.3f}", flush=True)
                    last = job["status"]
                if job["status"] in ("succeeded", "failed", "cancelled"):
                    break
                time.sleep(1)
            wall = time.perf_counter() - t0
            study = httpx.get(f"{svc.url}/jobs/{job_id}/study", headers=svc.headers, timeout=300).json()
        stages = stage_times(db, job_id)
    finally:
        from models.db import engine_for

        engine_for.cache_clear()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return job, study, wall, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (one thread each)")
    parser.add_argument("--shard-size", type=int, default=100, help="OPTARENA_SHARD_SIZE")
    parser.add_argument("--shard-examples", type=int, default=40_000, help="OPTARENA_SHARD_EXAMPLES")
    parser.add_argument("--steps", type=int, default=None, help="override train.steps (default: preset)")
    args = parser.parse_args()

    body: dict[str, Any] = {"preset": "tuning-wave"}
    if args.steps:
        body["overrides"] = {"train": {"steps": args.steps}}
    shards = {"OPTARENA_SHARD_SIZE": str(args.shard_size),
              "OPTARENA_SHARD_EXAMPLES": str(args.shard_examples)}
    job, study, wall, stages = run_job(body, args.workers, shards, progress=True)
    table = {row["arm"]: row for row in (study.get("test") or {}).get("table", [])}
    chosen = {a["arm"]: {"lr": (a.get("chosen") or {}).get("lr"),
                         "test_loss": (table.get(a["arm"]) or {}).get("mean"),  # over the finite runs
                         "n_diverged": (table.get(a["arm"]) or {}).get("n_diverged")}
              for a in study.get("arms", [])}
    print(json.dumps({"status": job["status"], "runs": job["n_runs"], "workers": args.workers,
                      "shard_size": args.shard_size, "shard_examples": args.shard_examples,
                      "wall_s": round(wall, 1), "wall_min": round(wall / 60, 2), "stages": stages,
                      "chosen": chosen, "ranking": (study.get("test") or {}).get("ranking")}))


if __name__ == "__main__":
    main()
