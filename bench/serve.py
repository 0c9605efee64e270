"""Viewers benchmark (``make bench-serve``): 200 concurrent SSE viewers of one running job.

The real stack on loopback: one uvicorn API process, one Celery worker, PostgreSQL (a
database of its own, dropped afterwards) and Redis (the broker, and the store of the rate
limit). A seed-wave-all job (35 runs, ``--steps`` steps: 20-30 s of training) runs twice,
first with no viewer, then with ``--viewers`` SSE streams opened as it is submitted, each
following it to its end. Measured: the API process's CPU time (utime + stime from
/proc/<pid>/stat) as a fraction of one core over each job, the viewed job's wall time
against the other's, and every viewer's event ids against a read of the finished job
(every event exactly once, in order). Every wait has a deadline, and the processes and the
database go on the way out. The last line of output is one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.service import bench_key, drop_pg, pg_database, start, stop  # noqa: E402
from models.tables import TERMINAL  # noqa: E402

PORT = 8797
REDIS = "redis://127.0.0.1:6379"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (fields 14 and 15 of /proc/<pid>/stat,
    counted after the command name, which may hold spaces)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes (one per connection, and its own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().startswith(f"{stat.parent.name} (postgres)"):
                found.append(int(stat.parent.name))
        except OSError:
            continue  # gone meanwhile
    return found


def cpu_by_process(api: int, worker: int) -> dict[str, float]:
    """CPU seconds so far of the API, the worker, PostgreSQL and this process (the viewers)."""
    pg = 0.0
    for pid in postgres_pids():
        try:
            pg += cpu_seconds(pid)
        except OSError:
            continue
    return {"api": cpu_seconds(api), "worker": cpu_seconds(worker), "postgres": pg,
            "viewers": cpu_seconds(os.getpid())}


def counters(client: httpx.Client) -> dict[str, float]:
    """optarena_event_reads_total by reader, from the API's own GET /metrics."""
    found = re.findall(r'^optarena_event_reads_total\{by="(\w+)"\} (\S+)$', client.get("/metrics").text, re.M)
    return {by: float(n) for by, n in found}


class Viewer(asyncio.Protocol):
    """One SSE viewer on a raw connection: the ids of the events it receives, and its bytes.
    Only the ``id:`` lines are looked for (a data line is one line of JSON, never one of
    them), so that 200 viewers on the same cores as the server cost as little as a client can."""

    def __init__(self, path: str, key: str):
        self.request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                        "Accept: text/event-stream\r\nConnection: close\r\n\r\n").encode()
        self.ids: list[int] = []
        self.pending, self.received = b"", 0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if not self.received and not data.startswith(b"HTTP/1.1 200"):
            print(f"a viewer was refused: {data[:200]!r}")
            self.transport.close()
        self.received += len(data)
        self.pending = scan(self.pending + data, self.ids)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set_result(None)


async def view(path: str, key: str) -> Viewer:
    """Follow the stream until the server ends it (after the job's final status)."""
    _, viewer = await asyncio.get_running_loop().create_connection(lambda: Viewer(path, key),
                                                                   "127.0.0.1", PORT)
    await viewer.closed
    return viewer


def scan(buf: bytes, ids: list[int]) -> bytes:
    """Append the ids of the complete ``\\nid: N\\n`` lines in ``buf``; return what may still
    be the start of one."""
    keep = max(0, len(buf) - 4)  # a "\nid: " may straddle this read and the next
    i = buf.find(b"\nid: ")
    while i >= 0:
        end = buf.find(b"\n", i + 5)
        if end < 0:
            return buf[i:]
        ids.append(int(buf[i + 5:end]))
        keep = max(keep, end)
        i = buf.find(b"\nid: ", end)
    return buf[keep:]


def run_job(client: httpx.Client, procs: dict[str, int], steps: int, viewers: int, key: str,
            timeout: float) -> dict[str, Any]:
    """Submit, open ``viewers`` streams at once, wait for the job and the streams to end."""
    body = {"preset": "seed-wave-all", "overrides": {"train": {"steps": steps}}}
    reads0, cpu0, t0 = counters(client), cpu_by_process(**procs), time.monotonic()
    job_id = client.post("/jobs", json=body).raise_for_status().json()["id"]
    deadline = t0 + timeout

    async def main() -> tuple[list[Viewer], dict[str, float], float]:
        tasks = [asyncio.create_task(view(f"/jobs/{job_id}/events", key)) for _ in range(viewers)]
        while (await asyncio.to_thread(client.get, f"/jobs/{job_id}")).json()["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not finished after {timeout} s")
            await asyncio.sleep(0.5)
        cpu, t1 = cpu_by_process(**procs), time.monotonic()  # the job is over; the viewers drain
        async with asyncio.timeout(deadline - time.monotonic()):
            return await asyncio.gather(*tasks), cpu, t1

    seen, cpu1, t1 = asyncio.run(main())
    job = client.get(f"/jobs/{job_id}").json()
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error')}")
    stamp = {k: datetime.fromisoformat(job[k]) for k in ("created_at", "finished_at")}
    reference = [int(m) for m in re.findall(r'^\{"id":(\d+),', client.get(
        f"/jobs/{job_id}/metrics.jsonl", timeout=300).text, re.M)]
    reads = {k: v - reads0.get(k, 0) for k, v in counters(client).items()}
    return {"job_s": (stamp["finished_at"] - stamp["created_at"]).total_seconds(), "wall_s": t1 - t0,
            "cpu": {k: cpu1[k] - cpu0[k] for k in cpu0}, "events": len(reference),
            "exact": sum(v.ids == reference for v in seen),
            "mb_per_viewer": sum(v.received for v in seen) / len(seen) / 1e6 if seen else 0.0,
            "feed_reads": reads.get("feed", 0.0), "stream_reads": reads.get("stream", 0.0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=10_000, help="steps of each seed-wave-all job")
    ap.add_argument("--viewers", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2, help="pairs of jobs, one alone and one viewed, "
                    "in turn (drift of the machine's load falls on both)")
    ap.add_argument("--timeout", type=float, default=240, help="longest wait for one job, in seconds")
    ap.add_argument("--poll", type=float, help="the API's OPTARENA_SSE_POLL_SECONDS (default: its own, 0.5)")
    args = ap.parse_args()
    pg = pg_database()
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTARENA_")}
    # One key stands for every viewer: a burst that lets them all in, still counted in Redis.
    env |= {"PYTHONPATH": str(ROOT), "OPTARENA_DATABASE_URL": url, "OPTARENA_RATE_LIMIT_BURST": "2000",
            "OPTARENA_BROKER_URL": f"{REDIS}/{1 + uuid.uuid4().int % 14}"}
    if args.poll is not None:
        env["OPTARENA_SSE_POLL_SECONDS"] = str(args.poll)
    alone, viewed = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            procs = start(Path(tmp), env, PORT)
            try:
                key = bench_key(url)
                pids = {"worker": procs[0].pid, "api": procs[1].pid}
                with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=60,
                                  headers={"Authorization": f"Bearer {key}"}) as client:
                    run_job(client, pids, 200, 0, key, args.timeout)  # warm-up: imports, data, plans
                    for _ in range(args.rounds):
                        alone.append(run_job(client, pids, args.steps, 0, key, args.timeout))
                        viewed.append(run_job(client, pids, args.steps, args.viewers, key, args.timeout))
            finally:
                shutdown(procs)
    finally:
        drop_pg(pg)
    report(alone, viewed, args)


def shutdown(procs: list[subprocess.Popen[bytes]]) -> None:
    try:
        stop(procs)
    except subprocess.TimeoutExpired:  # uvicorn waits for its open streams: not after a kill
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def total(jobs: list[dict[str, Any]], key: str) -> float:
    return sum(job["cpu"][key] if key in job["cpu"] else job[key] for job in jobs)


def report(alone: list[dict[str, Any]], viewed: list[dict[str, Any]], args: argparse.Namespace) -> None:
    api_core = total(viewed, "api") / total(viewed, "wall_s")
    ratio = total(viewed, "job_s") / total(alone, "job_s")
    exact = min(job["exact"] for job in viewed)
    poll = "" if args.poll is None else f", SSE_POLL_SECONDS={args.poll}"
    print(f"seed-wave-all ({args.steps} steps) {args.rounds} times alone and {args.rounds} times with "
          f"{args.viewers} SSE viewers; one uvicorn API process, one Celery worker, PostgreSQL, Redis{poll}")
    print("| figure | target | measured |\n| --- | --- | --- |")
    print(f"| API process CPU with {args.viewers} viewers, share of one core over the job | <= 25% | "
          f"{api_core:.1%} ({total(viewed, 'api'):.1f} s in {total(viewed, 'wall_s'):.1f} s) |")
    print(f"| API process CPU with no viewer | | {total(alone, 'api') / total(alone, 'wall_s'):.1%} |")
    print(f"| job wall time with {args.viewers} viewers / with none | <= 1.10 | {ratio:.3f} "
          f"({seconds(viewed)} s / {seconds(alone)} s) |")
    print(f"| viewers that got every event exactly once, in order (fewest of a job) | {args.viewers} | "
          f"{exact} ({viewed[-1]['events']} events, {viewed[-1]['mb_per_viewer']:.1f} MB per viewer) |")
    print("\nCPU seconds per job (mean), and the event-log reads of the viewed jobs:")
    print("| | API | worker | PostgreSQL | viewers (this process) | job s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, jobs in (("alone", alone), (f"{args.viewers} viewers", viewed)):
        n = len(jobs)
        print(f"| {name} | " + " | ".join(f"{total(jobs, k) / n:.1f}" for k in
                                           ("api", "worker", "postgres", "viewers", "job_s")) + " |")
    print(f"reads by the job's feed {total(viewed, 'feed_reads'):.0f}, by streams catching up "
          f"{total(viewed, 'stream_reads'):.0f} (all viewed jobs)")
    out = {"api_core": api_core, "api_core_alone": total(alone, "api") / total(alone, "wall_s"),
           "job_ratio": ratio, "job_s": [j["job_s"] for j in viewed],
           "job_alone_s": [j["job_s"] for j in alone],
           "viewers": args.viewers, "viewers_exact": exact, "events": viewed[-1]["events"],
           "mb_per_viewer": viewed[-1]["mb_per_viewer"], "feed_reads": total(viewed, "feed_reads"),
           "stream_reads": total(viewed, "stream_reads"),
           "cpu_s": {k: total(viewed, k) / len(viewed) for k in viewed[0]["cpu"]},
           "cpu_alone_s": {k: total(alone, k) / len(alone) for k in alone[0]["cpu"]}}
    print(json.dumps(rounded(out)))


def seconds(jobs: list[dict[str, Any]]) -> str:
    return " + ".join(f"{job['job_s']:.1f}" for job in jobs)


def rounded(o: Any) -> Any:
    if isinstance(o, float):
        return round(o, 3)
    if isinstance(o, dict):
        return {k: rounded(v) for k, v in o.items()}
    if isinstance(o, list):
        return [rounded(v) for v in o]
    return o


if __name__ == "__main__":
    main()
