import pytest
import torch

from engine.presets import preset_dict
from engine.spec import ComparisonSpec

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
