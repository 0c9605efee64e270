"""The `optarena` commands against a real running service, as a user runs them."""

from __future__ import annotations

import csv
import json
import subprocess
import time
from pathlib import Path

from tests.api.dashboard.service import Running
from tests.support.procs import BIN

STEPS = 300


def optarena(service: Running, *args: str, cwd: Path | None = None, timeout: float = 180
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "optarena"), *args], env=service.cli_env() | {"COLUMNS": "200"},
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def job_id(stdout: str) -> str:
    return stdout.split("job ", 1)[1].split()[0]


def test_submit_follow_then_jobs_show_export(service: Running, tmp_path: Path) -> None:
    done = optarena(service, "submit", "--preset", "seed-wave", "--steps", str(STEPS), "--seeds", "0,1",
                    "--follow")
    assert done.returncode == 0, done.stderr + done.stdout
    jid = job_id(done.stdout)
    assert f"job {jid}: succeeded" in done.stdout
    for arm in ("SGD", "Momentum", "Adam"):  # the final result table
        assert arm in done.stdout.split("results:")[1]

    listed = optarena(service, "jobs")
    assert jid in listed.stdout and "succeeded" in listed.stdout
    shown = optarena(service, "show", jid)
    assert shown.returncode == 0 and shown.stdout.count("succeeded") == 1 + 6  # the title, then each run

    for fmt in ("csv", "json", "png", "html"):
        out = tmp_path / f"export.{fmt}"
        done = optarena(service, "export", jid, "--format", fmt, "--out", str(out))
        assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((tmp_path / "export.csv").open()))
    train = [r for r in rows if r["metric"] == "train_loss" and r["run"] == "0"]
    assert [int(r["step"]) for r in train] == list(range(1, STEPS + 1))
    assert len(json.loads((tmp_path / "export.json").read_text())["runs"]) == 6
    assert (tmp_path / "export.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "export.html").read_text()


def test_cancel_a_running_job(service: Running) -> None:
    done = optarena(service, "submit", "--preset", "seed-wave", "--steps", "1000000")
    jid = job_id(done.stdout)
    time.sleep(1)
    cancelled = optarena(service, "cancel", jid)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"job {jid}: cancelled" in cancelled.stdout


def test_a_bad_spec_names_the_field(service: Running, tmp_path: Path) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({"arms": [{"optimizer": "adam", "lr": -1}]}))
    done = optarena(service, "submit", str(spec))
    assert done.returncode == 1
    assert "arms.0.adam.lr" in done.stderr


def test_without_a_key_the_cli_says_so(service: Running) -> None:
    done = subprocess.run([str(BIN / "optarena"), "jobs"], env=service.cli_env() | {"OPTARENA_API_KEY": ""},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "401" in done.stderr


def test_follow_draws_a_bar_per_arm_above_fifty_runs(service: Running) -> None:
    seeds = ",".join(str(s) for s in range(17))  # 3 arms x 17 seeds = 51 runs
    done = optarena(service, "submit", "--preset", "seed-wave", "--steps", "20", "--seeds", seeds, "--follow")
    assert done.returncode == 0, done.stderr + done.stdout
    bars = done.stdout.split("results:")[0]
    for arm in ("SGD", "Momentum", "Adam"):
        assert f"{arm} (17 runs)" in bars
    assert bars.count("17/17 finished") == 3 and "seed 0" not in bars
