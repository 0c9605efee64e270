"""Read benchmark (``make bench-reads``): one uvicorn API process on SQLite, 10 concurrent
clients (threads, one keep-alive connection each) reading a finished 35-run x 10,000-step job's
``/metrics?max_points=500`` and ``/results``: the first (cold) request, then warm reads, then
revalidations with ``If-None-Match`` (304s); warm metrics once more with httpx as the client;
and reads of a job still running (its points in chunks), while a thread writes it a flush of 100
more steps every ``--flush-every`` seconds as its worker would. The jobs' metrics are synthetic
and go in through the worker's own write path (no training). Each phase
lasts ``--seconds`` (about 90 s in all); the last line of output is one JSON object."""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.service import bench_key, engine_like_events, migrate  # noqa: E402
from core.planning import plan_shards  # noqa: E402
from core.requests import parse_request  # noqa: E402
from core.submission import create_job  # noqa: E402
from engine.events import RunFinished  # noqa: E402
from models.db import session_factory  # noqa: E402
from models.tables import Shard  # noqa: E402
from worker.buffer import EventBuffer  # noqa: E402
from worker.persist import consolidate, write_batch  # noqa: E402
from worker.shards import claim, finish  # noqa: E402

CLIENTS = 10
OWNER = "bench"  # bench_key creates a key of this owner


def summary(rng: np.random.Generator, steps: int) -> dict[str, Any]:
    """The numbers /results reads from a run's summary, made up."""
    final_val, final_train = float(rng.random()), float(rng.random())
    return {"diverged": False, "stopped": None, "steps_trained": steps, "examples_seen": steps * 128,
            "final_train_loss": final_train, "final_val_loss": final_val, "final_test_loss": final_val,
            "best_val_loss": final_val * 0.9, "best_step": steps,
            "generalization_gap": final_val - final_train,
            "steps_to_target": None, "wall_time": steps / 100, "baseline_val_loss": 1.0}


def store_job(url: str, runs: int, steps: int, finished: bool) -> str:
    """A seed-wave-all job planned and claimed as a worker would, its metrics written in the
    engine's flushes; ``finished``: its runs' summaries, then the shard closed (consolidated)."""
    sessions = session_factory(url)
    with sessions() as session, session.begin():
        job = create_job(session, parse_request({"preset": "seed-wave-all"}), source="bench", owner=OWNER)
    with sessions() as session, session.begin():
        (shard_id, _), = plan_shards(session, job.id, shard_size=runs)
    with sessions() as session, session.begin():
        assert claim(session, shard_id, "bench", 3600, 3) is not None
    buffer = EventBuffer()
    for events in engine_like_events(runs, steps, every=100):
        for ev in events:
            buffer.add(ev)
        with sessions() as session, session.begin():
            write_batch(session, job.id, shard_id, buffer.take())
    if finished:
        rng = np.random.default_rng(1)
        for run in range(runs):
            buffer.add(RunFinished(run, summary(rng, steps)))
        with sessions() as session, session.begin():
            write_batch(session, job.id, shard_id, buffer.take())
            consolidate(session, job.id, list(range(runs)))
            assert finish(session, shard_id, "succeeded", owner="bench")
    return job.id


class StdlibClient:
    """One keep-alive connection; http.client reads a body in one C call, where httpx parses it
    in Python: on 2 cores shared with the server, the lighter client leaves the server more."""

    def __init__(self, base: str, headers: dict[str, str]):
        host, port = base.removeprefix("http://").split(":")
        self.conn, self.headers = http.client.HTTPConnection(host, int(port), timeout=60), headers

    def get(self, path: str) -> tuple[int, bytes]:
        self.conn.request("GET", path, headers=self.headers)
        r = self.conn.getresponse()
        return r.status, r.read()

    def close(self) -> None:
        self.conn.close()


class HttpxClient:
    def __init__(self, base: str, headers: dict[str, str]):
        self.client = httpx.Client(base_url=base, headers=headers, timeout=60)

    def get(self, path: str) -> tuple[int, bytes]:
        r = self.client.get(path)
        return r.status_code, r.content

    def close(self) -> None:
        self.client.close()


def hammer(base: str, path: str, headers: dict[str, str], seconds: float, expect: int = 200,
           clients: int = CLIENTS, kind: type = StdlibClient) -> dict[str, float]:
    """``clients`` threads, each with its own keep-alive connection, for ``seconds``."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client() -> None:
        mine, c = [], kind(base, headers)
        try:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                status, body = c.get(path)
                mine.append(time.perf_counter() - t0)
                if status != expect:
                    errors.append(f"{status} {body[:200]!r}")
                    return
        finally:
            c.close()
        with lock:
            latencies.extend(mine)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"GET {path}: {errors[0]}")
    ms = np.array(latencies) * 1000
    return {"rps": len(ms) / elapsed, "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95))}


def cold(base: str, path: str, headers: dict[str, str]) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    r = httpx.get(base + path, headers=headers, timeout=120)
    r.raise_for_status()
    return (time.perf_counter() - t0) * 1000, r


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_api(url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTARENA_")}
    # No per-key rate limit: one key stands for all ten clients here.
    env |= {"PYTHONPATH": str(ROOT), "OPTARENA_DATABASE_URL": url, "OPTARENA_RATE_LIMIT_PER_SECOND": "0"}
    cmd = [str(Path(sys.executable).parent / "uvicorn"), "api.main:app", "--port", str(port),
           "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.terminate()
            raise TimeoutError("the API did not start")
        time.sleep(0.2)


def paths(job: str) -> tuple[tuple[str, str], ...]:
    return ("metrics", f"/jobs/{job}/metrics?max_points=500"), ("results", f"/jobs/{job}/results")


def finished_reads(base: str, job: str, headers: dict[str, str], seconds: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, path in paths(job):
        out[f"{name}_cold_ms"], first = cold(base, path, headers)
        out[f"{name}_bytes"] = float(len(first.content))
        revalidate = {"If-None-Match": first.headers["etag"]}
        for phase, extra, expect in (("warm", {}, 200), ("304", revalidate, 304)):
            stats = hammer(base, path, headers | extra, seconds, expect)
            out |= {f"{name}_{phase}_{k}": v for k, v in stats.items()}
    # The same warm reads with httpx as the client, for comparison with the figures before.
    stats = hammer(base, paths(job)[0][1], headers, seconds, kind=HttpxClient)
    out |= {f"metrics_warm_httpx_{k}": v for k, v in stats.items()}
    return out


class Flushes(threading.Thread):
    """The running job's worker: every ``period`` seconds a flush of the next 100 steps of every
    run, through the worker's own write path, so the job's state changes as it does in training
    (seed-wave-all evaluates every 100 steps, several times a second; the worker writes what it
    has at most every ``write_interval``, 0.25 s)."""

    def __init__(self, url: str, job: str, runs: int, after: int, period: float):
        super().__init__(daemon=True)
        self.sessions, self.job, self.period = session_factory(url), job, period
        self.batches = itertools.islice(engine_like_events(runs, 10**9, every=100), after // 100, None)
        with self.sessions() as session:
            self.shard = session.scalars(select(Shard.id).where(Shard.job_id == job)).one()
        self.stop, self.count = threading.Event(), 0

    def run(self) -> None:
        buffer = EventBuffer()
        while not self.stop.wait(self.period):
            for ev in next(self.batches):
                buffer.add(ev)
            with self.sessions() as session, session.begin():
                write_batch(session, self.job, self.shard, buffer.take())
            self.count += 1


def running_reads(url: str, base: str, job: str, headers: dict[str, str], seconds: float, runs: int,
                  period: float) -> dict[str, float]:
    """A running job, its worker flushing points every ``period`` seconds throughout: one
    client re-reading the curves, one polling with the cursor, then ten clients at once."""
    metrics, results = paths(job)[0][1], paths(job)[1][1]
    last = httpx.get(base + metrics, headers=headers, timeout=60).json()["next_after_step"]
    out: dict[str, float] = {}
    flushes = Flushes(url, job, runs, last, period)
    flushes.start()
    try:
        poll = f"/jobs/{job}/metrics?after_step={last - 100}&max_points=500"
        for name, path, clients in (("metrics_1", metrics, 1), ("poll_1", poll, 1),
                                    ("metrics_10", metrics, CLIENTS), ("results_10", results, CLIENTS)):
            stats = hammer(base, path, headers, seconds, clients=clients)
            out |= {f"running_{name}_{k}": v for k, v in stats.items()}
    finally:
        flushes.stop.set()
        flushes.join()
    out["running_flushes"] = flushes.count
    out["running_steps_at_end"] = last + 100 * flushes.count
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=10_000, help="steps of the finished job")
    ap.add_argument("--running-steps", type=int, default=2_000, help="steps the running job has so far")
    ap.add_argument("--runs", type=int, default=35)
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each measured phase")
    ap.add_argument("--flush-every", type=float, default=0.25,
                    help="seconds between the running job's writes while it is read (the worker "
                         "writes at most every OPTARENA_WRITE_INTERVAL, 0.25 s)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate(url)
        done = store_job(url, args.runs, args.steps, finished=True)
        live = store_job(url, args.runs, args.running_steps, finished=False)
        headers = {"Authorization": f"Bearer {bench_key(url)}"}
        setup_s = time.perf_counter() - t0
        proc, base = start_api(url)
        try:
            out = finished_reads(base, done, headers, args.seconds)
            out |= running_reads(url, base, live, headers, args.seconds, args.runs, args.flush_every)
        finally:
            proc.terminate()
            proc.wait(20)
    out["setup_s"] = setup_s
    out["total_s"] = time.perf_counter() - t0
    for name in ("metrics", "results"):
        print(f"/{name} of the finished job ({out[f'{name}_bytes'] / 1e3:,.0f} kB): cold "
              f"{out[f'{name}_cold_ms']:.0f} ms; warm {out[f'{name}_warm_rps']:.0f} rps, p50 "
              f"{out[f'{name}_warm_p50_ms']:.1f} ms, p95 {out[f'{name}_warm_p95_ms']:.1f} ms; 304 "
              f"{out[f'{name}_304_rps']:.0f} rps, p95 {out[f'{name}_304_p95_ms']:.1f} ms")
    print(f"/metrics of the finished job, warm, httpx clients: {out['metrics_warm_httpx_rps']:.0f} rps, "
          f"p95 {out['metrics_warm_httpx_p95_ms']:.1f} ms")
    for name, what in (("metrics_1", "/metrics?max_points=500, 1 client"),
                       ("poll_1", "/metrics?after_step=<last 100 steps>, 1 client"),
                       ("metrics_10", "/metrics?max_points=500, 10 clients"),
                       ("results_10", "/results, 10 clients")):
        print(f"running job ({args.running_steps} steps at first, 100 more every {args.flush_every} s), "
              f"{what}: "
              f"{out[f'running_{name}_rps']:.0f} rps, p50 {out[f'running_{name}_p50_ms']:.0f} ms, "
              f"p95 {out[f'running_{name}_p95_ms']:.0f} ms")
    print(f"running job: {out['running_flushes']} flushes during its reads, "
          f"{out['running_steps_at_end']} steps at the end")
    print(json.dumps({k: round(v, 2) for k, v in out.items()}))


if __name__ == "__main__":
    main()
