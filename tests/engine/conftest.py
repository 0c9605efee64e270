import pytest
import torch

from engine.presets import preset_dict
from engine.runner import Collector, compare, make_cohort
from engine.spec import ComparisonSpec
from engine.studies.bias_variance import arm_decomposition

ALL_OPTIMIZERS = ["gd", "sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamw"]


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    """Run the test at 1 and at 2 intra-op threads: kernels that split their work round
    differently, so agreement that holds only at one count shows on any machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


def small_wave(**train) -> dict:
    """The reference task, smaller: 2,000 points, quick to train on CPU."""
    spec = preset_dict("seed-wave", {"task": {"n": 2000}, "train": {"steps": 200, "eval_every": 50, **train}})
    return spec


@pytest.fixture
def all_arms_spec():
    def make(dtype: str, steps: int, seeds: tuple[int, ...] = (0, 1)) -> ComparisonSpec:
        d = small_wave(steps=steps, dtype=dtype, eval_every=steps)
        d["arms"] = [{"optimizer": name, "lr": 1e-2} for name in ALL_OPTIMIZERS]
        d["arms"][5]["lr"] = 1.0  # adadelta at its own default
        d["seeds"] = list(seeds)
        return ComparisonSpec.model_validate(d)

    return make


def bias_variance_arms(spec: ComparisonSpec) -> dict[str, dict]:
    """Train a bias_variance ``spec`` here and decompose each arm as the service does
    (api/studies/views.py): replicates 0..n-1 are the members, replicate n the whole split."""
    results, n_rep = compare(spec), spec.study.resamples
    arms = {}
    for a, arm in enumerate(spec.arms):
        outs = {r.variant: r.outputs for r in results.values() if r.arm == a}
        ref = next(o for o in outs.values() if o)
        arms[arm.display()] = arm_decomposition(
            arm.display(), [outs[v] and outs[v]["test_pred"] for v in range(n_rep)],
            outs[n_rep] and outs[n_rep]["test_pred"], ref["test_y"], ref["test_truth"])
    return arms


def assert_resume_is_exact(spec: ComparisonSpec, at: int) -> None:
    """Train every run of ``spec`` once straight through and once stopped at the checkpoint
    of step ``at`` and resumed in a new cohort: the resumed curves and summaries must be the
    uninterrupted ones (wall time aside)."""
    runs = list(range(len(spec.runs())))
    reference = Collector()
    make_cohort(spec, runs).train(reference)
    saved: list[tuple[int, bytes]] = []
    assert not make_cohort(spec, runs).train(Collector(), on_checkpoint=lambda s, b: saved.append((s, b)),
                                             checkpoint_every=at, should_stop=lambda: bool(saved))
    assert saved[0][0] == at
    resumed, after = make_cohort(spec, runs), Collector()
    resumed.load_state_bytes(saved[0][1])
    assert resumed.train(after)
    for run, ref in reference.runs.items():
        steps, values = ref.curves["train_loss"]
        got = after.runs[run]
        assert got.curves["train_loss"] == (steps[at:], values[at:])
        assert got.summary == ref.summary | {"wall_time": got.summary["wall_time"]}
