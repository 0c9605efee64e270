"""Service benchmark (``make bench-service``): metric ingestion into PostgreSQL and SQLite,
reading curves back over HTTP, bytes on disk per stored point of the finished job,
seed-wave-all end to end against the engine alone, and the delay from the worker to an SSE
client. The last line of output is one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.main import create_app  # noqa: E402
from core.requests import parse_request  # noqa: E402
from core.settings import Settings, get_settings  # noqa: E402
from core.submission import create_job  # noqa: E402
from engine.events import MetricPoints, Progress  # noqa: E402
from models.db import session_factory  # noqa: E402
from models.tables import TERMINAL, Shard  # noqa: E402
from worker.buffer import EventBuffer  # noqa: E402
from worker.persist import consolidate, write_batch  # noqa: E402

TRAIN, EVAL = ("train_loss", "grad_norm", "update_ratio"), ("val_loss", "test_loss", "lr", "examples_seen",
                                                           "wall_time")


def migrate(url: str) -> None:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")


def engine_like_events(runs: int, steps: int, every: int):  # noqa: ANN201 - a generator of lists
    """What the engine emits, one flush (``every`` steps, ending at an evaluation) at a time:
    noise, so nothing compresses, in the dtype the engine computes each metric in (float32
    losses and diagnostics, as the net; float64 learning rate and wall time; an integer count)."""
    rng = np.random.default_rng(0)
    f32 = lambda n: rng.random(n, dtype=np.float32).tolist()
    for end in range(every, steps + 1, every):
        window = list(range(end - every + 1, end + 1))
        events = [MetricPoints(r, m, window, f32(every)) for r in range(runs) for m in TRAIN]
        evals = {"val_loss": f32(runs), "test_loss": f32(runs), "lr": rng.random(runs).tolist(),
                 "examples_seen": [end * 128.0] * runs, "wall_time": (end / 100 + rng.random(runs)).tolist()}
        events += [MetricPoints(r, m, [end], [evals[m][r]]) for r in range(runs) for m in EVAL]
        yield events + [Progress(list(range(runs)), end, steps)]


def ingest(url: str, runs: int, steps: int) -> tuple[float, str]:
    """Points per second through the worker's buffer and batch writer."""
    migrate(url)
    sessions = session_factory(url)
    with sessions() as session, session.begin():
        job = create_job(session, parse_request({"preset": "seed-wave-all"}), source="bench", owner="bench")
        shard = Shard(job_id=job.id, index=0, run_indices=list(range(runs)), queue="cpu", status="running",
                      step=0, attempts=1, checkpoint_step=0)
        session.add(shard)
    batches = list(engine_like_events(runs, steps, every=100))
    buffer, points, elapsed = EventBuffer(), 0, 0.0
    for events in batches:
        t0 = time.perf_counter()
        for ev in events:
            buffer.add(ev)
        with sessions() as session, session.begin():
            points += write_batch(session, job.id, shard.id, buffer.take())
        elapsed += time.perf_counter() - t0
    t0 = time.perf_counter()
    with sessions() as session, session.begin():
        consolidate(session, job.id, list(range(runs)))  # as the worker does when the shard ends
    elapsed += time.perf_counter() - t0
    return points / elapsed, job.id


def stored_points(conn: Any) -> int:
    """Points of the series, and of the chunks of curves with no series (stored before 0007,
    a curve had both: its points count once)."""
    return int(conn.execute(
        "SELECT (SELECT COALESCE(SUM(n), 0) FROM metric_series) + (SELECT COALESCE(SUM(n), 0) "
        "FROM metric_chunks c WHERE NOT EXISTS (SELECT 1 FROM metric_series s WHERE "
        "s.job_id = c.job_id AND s.run = c.run AND s.metric = c.metric))").fetchone()[0])


def sqlite_bytes(path: str) -> tuple[float, float]:
    """Bytes per stored point of the whole file after VACUUM, and of the metric tables alone
    (with their indexes). Deleted chunks' pages are reused by later chunks even without VACUUM."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # else the vacuumed pages wait in the WAL
        points = stored_points(conn)
        metric = conn.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE '%metric_%'").fetchone()[0]
    return os.path.getsize(path) / points, metric / points


def pg_bytes(url: str) -> float:
    """Bytes per stored point of the metric tables, indexes and TOAST included, after VACUUM
    FULL (which gives deleted chunks' space back, as VACUUM does SQLite's)."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("VACUUM FULL metric_chunks, metric_series")
        size = conn.execute("SELECT pg_total_relation_size('metric_chunks') + "
                            "pg_total_relation_size('metric_series')").fetchone()[0]
        return size / stored_points(conn)


def read_ms(url: str, job_id: str, params: dict[str, int]) -> float:
    settings = Settings(database_url=url)
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {bench_key(url)}"
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            r = client.get(f"/jobs/{job_id}/metrics", params=params)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
    return statistics.median(times)


def bench_key(url: str) -> str:
    """An API key of owner 'bench' (who owns the ingested jobs) in the database at ``url``."""
    from models import apikeys

    with session_factory(url)() as session, session.begin():
        return apikeys.create(session, "bench", "bench")


def pg_database() -> str:
    name = f"optarena_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_pg(name: str) -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


ENGINE_ALONE = """
import time
from engine import compare, preset
spec = preset("seed-wave-all", {{"train": {{"steps": {steps}}}}})
t0 = time.perf_counter(); compare(spec); print(time.perf_counter() - t0)
"""


def engine_seconds(steps: int) -> float:
    out = subprocess.run([sys.executable, "-c", ENGINE_ALONE.format(steps=steps)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def start(cwd: Path, env: dict[str, str], port: int) -> list[subprocess.Popen[bytes]]:
    bin_ = Path(sys.executable).parent
    subprocess.run([str(bin_ / "alembic"), "-c", str(ROOT / "alembic.ini"), "upgrade", "head"], cwd=cwd,
                   env=env, check=True, capture_output=True)
    log = open(cwd / "worker.log", "wb")  # noqa: SIM115 - lives as long as the worker
    worker = [str(bin_ / "celery"), "-A", "worker.celery_app", "worker", "-Q", "cpu", "--pool", "solo",
              "-l", "INFO"]  # INFO: the " ready." line is what start() waits for
    procs = [subprocess.Popen(worker, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT),
             subprocess.Popen([str(bin_ / "uvicorn"), "api.main:app", "--port", str(port),
                               "--log-level", "warning"], cwd=cwd, env=env)]
    deadline = time.monotonic() + 300
    while b" ready." not in (cwd / "worker.log").read_bytes() or not _up(port):
        if time.monotonic() > deadline:
            stop(procs)
            raise TimeoutError("service did not start")
        time.sleep(0.2)
    return procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(20)


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def submit(base: str, steps: int, headers: dict[str, str]) -> str:
    body = {"preset": "seed-wave-all", "overrides": {"train": {"steps": steps}}}
    return httpx.post(f"{base}/jobs", json=body, headers=headers, timeout=30).json()["id"]


def wait_job(base: str, steps: int, key: str) -> float:
    """Seconds from POST to a finished job, for a client that polls the job twice a second."""
    headers = {"Authorization": f"Bearer {key}"}
    t0 = time.perf_counter()
    job_id = submit(base, steps, headers)
    while httpx.get(f"{base}/jobs/{job_id}", headers=headers, timeout=30).json()["status"] not in TERMINAL:
        time.sleep(0.5)
    return time.perf_counter() - t0


def follow_job(base: str, steps: int, key: str) -> list[float]:
    """Each metric batch's delay in ms, from the worker handing it over to this SSE client."""
    headers = {"Authorization": f"Bearer {key}"}
    job_id, delays, data = submit(base, steps, headers), [], ""
    with httpx.stream("GET", f"{base}/jobs/{job_id}/events", headers=headers, timeout=None) as resp:
        for line in resp.iter_lines():
            if line.startswith("data:"):
                data = line[5:]
            elif line.startswith("event: metrics") or (line == "" and data):
                payload = json.loads(data) if data else {}
                emitted = (payload.get("progress") or {}).get("emitted_at")
                if emitted:
                    delays.append((time.time() - emitted) * 1000)
                data = ""
    return delays


def end_to_end(steps: int) -> tuple[float, float, float, float]:
    """The job's time over HTTP against the engine alone; then, on a shorter job, SSE delays.

    The two are separate runs because a client parsing every point of a 35-run stream on
    this same 2-core machine takes CPU from the training it is timing."""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OPTARENA_")}
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        procs = start(Path(tmp), env, port=8799)
        try:
            key = bench_key(f"sqlite:///{tmp}/var/optarena.db")
            service_s = wait_job("http://127.0.0.1:8799", steps, key)
            delays = follow_job("http://127.0.0.1:8799", min(steps, 2000), key)
        finally:
            stop(procs)
        real_bytes = sqlite_bytes(f"{tmp}/var/optarena.db")[0]  # the two finished engine jobs
    alone = engine_seconds(steps)
    return service_s / alone, float(np.percentile(delays, 95)) if delays else float("nan"), alone, real_bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=10_000, help="steps of the seed-wave-all job")
    ap.add_argument("--runs", type=int, default=35)
    ap.add_argument("--skip-e2e", action="store_true", help="storage figures only")
    args = ap.parse_args()
    out: dict[str, float] = {}
    pg = pg_database()
    try:
        pg_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg}"
        out["ingest_pg_points_s"], pg_job = ingest(pg_url, args.runs, args.steps)
        out["read_downsampled_pg_ms"] = read_ms(pg_url, pg_job, {"max_points": 1000})
        out["read_full_pg_ms"] = read_ms(pg_url, pg_job, {})
        out["pg_metric_bytes_per_point"] = pg_bytes(pg_url)
    finally:
        session_factory(f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg}").kw["bind"].dispose()
        drop_pg(pg)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        out["ingest_sqlite_points_s"], job = ingest(url, args.runs, args.steps)
        out["read_downsampled_ms"] = read_ms(url, job, {"max_points": 1000})
        out["read_full_ms"] = read_ms(url, job, {})
        out["sqlite_bytes_per_point"], out["sqlite_metric_bytes_per_point"] = sqlite_bytes(f"{tmp}/bench.db")
    print(f"ingest: PostgreSQL {out['ingest_pg_points_s']:,.0f} points/s, "
          f"SQLite {out['ingest_sqlite_points_s']:,.0f} points/s")
    print(f"storage of the finished job, bytes on disk per point: PostgreSQL metric tables "
          f"{out['pg_metric_bytes_per_point']:.2f}; SQLite file {out['sqlite_bytes_per_point']:.2f} "
          f"(metric tables {out['sqlite_metric_bytes_per_point']:.2f})")
    if not args.skip_e2e:
        (out["e2e_ratio"], out["sse_p95_ms"], out["engine_s"],
         out["e2e_sqlite_bytes_per_point"]) = end_to_end(args.steps)
        print(f"storage of the service's finished engine jobs: SQLite file "
              f"{out['e2e_sqlite_bytes_per_point']:.2f} bytes per point")
    print(json.dumps({k: round(v, 3) for k, v in out.items()}))


if __name__ == "__main__":
    main()
