"""Checkpoints: resume equals uninterrupted; loading never unpickles objects."""

import io
import pickle

import pytest

from engine.runner import Collector, make_cohort
from engine.spec import ComparisonSpec
from tests.engine.conftest import small_wave


def _spec() -> ComparisonSpec:
    d = small_wave(steps=300, eval_every=50, early_stopping={"patience": 50})
    d["arms"] = [{"optimizer": "adam", "lr": 1e-2}, {"optimizer": "rmsprop", "lr": 1e-3},
                 {"optimizer": "momentum", "lr": 1e-2, "schedule": {"kind": "cosine", "warmup_steps": 20}}]
    d["seeds"] = [0, 1]
    return ComparisonSpec.model_validate(d)


def test_resumed_cohort_produces_the_uninterrupted_curves():
    spec, runs = _spec(), list(range(6))
    reference = Collector()
    make_cohort(spec, runs).train(reference)

    saved: list[tuple[int, bytes]] = []
    first = make_cohort(spec, runs)
    completed = first.train(Collector(), on_checkpoint=lambda s, b: saved.append((s, b)),
                            checkpoint_every=100, should_stop=lambda: bool(saved))
    assert not completed and saved[0][0] == 100

    resumed, after = make_cohort(spec, runs), Collector()
    resumed.load_state_bytes(saved[0][1])
    assert resumed.train(after)
    for run, ref in reference.runs.items():
        steps, values = ref.curves["train_loss"]
        got_steps, got = after.runs[run].curves["train_loss"]
        assert got_steps == steps[100:]
        assert got == values[100:]
        assert after.runs[run].summary == ref.summary | {"wall_time": after.runs[run].summary["wall_time"]}


class _Boom:
    def __reduce__(self):
        return (print, ("executed",))


def test_checkpoint_loading_refuses_pickled_objects():
    cohort = make_cohort(_spec(), list(range(6)))
    buf = io.BytesIO()
    pickle.dump({"step": _Boom()}, buf)
    with pytest.raises(pickle.UnpicklingError):
        cohort.load_state_bytes(buf.getvalue())
