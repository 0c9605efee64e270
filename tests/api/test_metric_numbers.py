"""Metric values on the wire: a float32 value (what the engine computes) is written as its
shortest float32 decimal, which reads back as the same float32 bit for bit; a float64 value
keeps its exact double; the event stream and the metrics read, of a running job and of a
finished one, write every value the same way."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from core.settings import Settings
from models.numbers import encode_many
from tests.api import stored_jobs

STEPS = 200
JOB = {"preset": "seed-wave", "overrides": {"seeds": [0, 1], "train": {"steps": STEPS, "eval_every": 50}}}


def _bits32(values: list[float | None]) -> np.ndarray:
    v = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return v.astype(np.float32).view(np.uint32)


def test_every_float32_reads_back_bit_for_bit_in_at_most_9_digits() -> None:
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
    bits = np.concatenate([bits, np.array([0, 1, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0x80000000, 0x3DCCCCCD],
                                          dtype=np.uint32)])  # zero, subnormals, max, -0.0, 0.1
    v32 = bits.view(np.float32)
    finite = np.isfinite(v32)
    with np.errstate(invalid="ignore"):  # signalling NaNs among the random patterns
        text = encode_many([v32.astype(np.float64)])[0]
    back = json.loads(text)
    assert [v is None for v in back] == (~finite).tolist()
    assert (_bits32(back)[finite] == bits[finite]).all()
    # Significant digits: the mantissa without sign, point, and leading or trailing zeros.
    digits = [len(re.sub(r"e.*$", "", t).lstrip("-").replace(".", "").strip("0")) for t in
              text.decode()[1:-1].split(",") if t != "null"]
    assert max(digits) <= 9
    assert encode_many([np.array([np.float32(0.1)], dtype=np.float64)])[0] == b"[0.1]"


def test_float64_values_keep_their_exact_double_beside_float32_ones() -> None:
    rng = np.random.default_rng(1)
    v64 = rng.standard_normal(10_000) * 10.0 ** rng.integers(-30, 30, 10_000)
    v32 = rng.standard_normal(10_000).astype(np.float32).astype(np.float64)
    mixed = np.where(np.arange(10_000) % 3 == 0, v32, v64)
    for values in (v64, mixed, np.array([np.inf, -np.inf, np.nan, 1e300])):
        back = json.loads(encode_many([values])[0])
        finite = np.isfinite(values)
        assert [v is None for v in back] == (~finite).tolist()
        got = np.array([np.nan if v is None else v for v in back])
        with np.errstate(over="ignore"):
            f32 = finite & (values.astype(np.float32).astype(np.float64) == values)
        # A float64 value: its exact double. A float32-exact one: that float32.
        assert (got[finite & ~f32] == values[finite & ~f32]).all()
        assert (got[f32].astype(np.float32) == values[f32].astype(np.float32)).all()


def _from_stream(client: TestClient, job_id: str) -> dict[tuple[int, str], list[Any]]:
    curves: dict[tuple[int, str], list[Any]] = {}
    for line in client.get(f"/jobs/{job_id}/metrics.jsonl").text.splitlines():
        event = json.loads(line)
        for p in event["data"].get("metrics", []) if event["event"] == "metrics" else []:
            curves.setdefault((p["run"], p["metric"]), []).extend(p["values"])
    return curves


def _from_read(client: TestClient, job_id: str) -> tuple[dict[tuple[int, str], list[Any]], str]:
    r = client.get(f"/jobs/{job_id}/metrics")
    assert r.status_code == 200, r.text
    return ({(run["run"], m): c["values"] for run in r.json()["runs"] for m, c in run["metrics"].items()},
            r.text)


def test_stream_and_reads_of_running_and_finished_jobs_agree_value_for_value(
        client: TestClient, sqlite_settings: Settings) -> None:
    url = sqlite_settings.database_url
    r = client.post("/jobs", json=JOB)
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    shards = stored_jobs.plan(url, job_id)
    for shard_id in shards:
        stored_jobs.write(url, job_id, shard_id, 0, STEPS, f32=True)
    running_stream, (running_read, running_text) = _from_stream(client, job_id), _from_read(client, job_id)
    for shard_id in shards:
        stored_jobs.close(url, job_id, shard_id, STEPS)
    assert client.get(f"/jobs/{job_id}").json()["status"] == "succeeded"
    done_stream, (done_read, _) = _from_stream(client, job_id), _from_read(client, job_id)

    # What was written: the same arithmetic as stored_jobs.write.
    steps = np.arange(1, STEPS + 1)
    for run in range(2):
        train = np.exp(-steps / (300 + 40 * run)) + 0.01 * np.sin(steps * (run + 1))
        if run == 0:
            train[(steps > 120) & (steps <= 123)] = np.nan
        want = train.astype(np.float32)
        for curves in (running_stream, running_read, done_stream, done_read):
            got = curves[(run, "train_loss")]
            assert [v is None for v in got] == np.isnan(want).tolist()
            assert (_bits32(got)[~np.isnan(want)] == want.view(np.uint32)[~np.isnan(want)]).all()
            assert curves[(run, "train_loss")] == running_stream[(run, "train_loss")]
        val = [1.1 * np.exp(-s / (250 + 30 * run)) for s in range(50, STEPS + 1, 50)]
        for curves in (running_stream, running_read, done_stream, done_read):
            assert curves[(run, "val_loss")] == val  # float64: the exact doubles
    # The float32 curve is written short: 0.8 of a float32 is 0.800000011920929 as a double.
    assert re.search(r"[0-9]\.[0-9]{10,}", running_text.split('"val_loss"')[0]) is None
