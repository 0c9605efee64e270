"""Classification works end to end; the CLI trains a preset without a server."""

import json
import subprocess
import sys
from pathlib import Path

from engine import compare
from engine.spec import ComparisonSpec
from engine.tasks import make_task, wave_truth


def test_tasks_are_generated_from_their_seed_and_split_three_ways():
    spec = ComparisonSpec.model_validate({"arms": [{"optimizer": "adam"}], "task": {"n": 1000}})
    a, b = make_task(spec.task), make_task(spec.task)
    assert (a.train.x == b.train.x).all() and (a.test.y == b.test.y).all()
    assert (len(a.train.x), len(a.val.x), len(a.test.x)) == (800, 100, 100)
    noise = a.train.y - wave_truth(a.train.x)
    assert 0.025 < noise.std().item() < 0.035  # the notes' 0.03 * N(0, 1)


def test_moons_classifier_reports_accuracy():
    spec = ComparisonSpec.model_validate({
        "task": {"name": "moons", "n": 2000, "noise": 0.1},
        "net": {"hidden": [32, 32], "activation": "relu"},
        "arms": [{"optimizer": "adam", "lr": 1e-2}, {"optimizer": "sgd", "lr": 1e-1}],
        "train": {"steps": 400, "eval_every": 100},
    })
    for r in compare(spec).values():
        assert r.curves["val_accuracy"][0] == [100, 200, 300, 400]
        assert r.summary["final_test_accuracy"] > 0.95, (r.label, r.summary)


def test_cli_run_prints_a_table_and_writes_metrics(tmp_path: Path):
    out = tmp_path / "metrics.json"
    cmd = [sys.executable, "-m", "optarena.cli", "run", "--preset", "seed-wave", "--steps", "60",
           "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "Momentum" in proc.stdout and "Adam" in proc.stdout
    payload = json.loads(out.read_text())
    assert [r["label"] for r in payload["runs"]] == ["SGD", "Momentum", "Adam"]
    assert payload["runs"][0]["metrics"]["train_loss"]["steps"] == list(range(1, 61))


def test_cli_rejects_a_bad_spec_with_the_field_path(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"arms": [{"optimizer": "adam", "lr": -1}]}))
    proc = subprocess.run([sys.executable, "-m", "optarena.cli", "run", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "arms.0.adam.lr" in proc.stdout
