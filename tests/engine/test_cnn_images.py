"""The digits task, the CNN, image regularizers, fair shared randomness, and resume with them."""

import torch

from engine import compare
from engine.augment import cutout, shift_rotate
from engine.design import plan_cohorts
from engine.runner import Collector, make_cohort
from engine.spec import ComparisonSpec
from engine.tasks import make_task

CNN = {"kind": "cnn", "channels": [4, 8], "hidden": [32], "activation": "relu"}
DIGITS = {"name": "digits", "n": 1000}


def _spec(net: dict, steps: int, reg: dict | None = None, arms=None, seeds=(0,), **train) -> ComparisonSpec:
    return ComparisonSpec.model_validate({
        "task": DIGITS, "net": net, "arms": arms or [{"optimizer": "adam", "lr": 1e-2}], "seeds": list(seeds),
        "train": {"steps": steps, "batch_size": 32, "eval_every": steps, **train}, "regularization": reg})


def test_digits_are_8x8_images_in_the_unit_interval():
    data = make_task(ComparisonSpec.model_validate({"task": {"name": "digits"},
                                                    "arms": [{"optimizer": "adam"}]}).task)
    assert data.image_shape == (1, 8, 8) and data.out_dim == 10
    assert sum(len(s.x) for s in (data.train, data.val, data.test)) == 1797
    assert data.train.x.min() == 0 and data.train.x.max() == 1


def test_cnn_and_mlp_learn_digits():
    for net in (CNN, {"hidden": [64]}):
        (r,) = compare(_spec(net, 200)).values()
        assert r.summary["final_test_accuracy"] > 0.8, (net, r.summary)


def test_integer_shift_moves_pixels_exactly_and_cutout_zeroes_a_clipped_square():
    img = torch.arange(1.0, 65.0, dtype=torch.float64).view(1, 1, 8, 8)
    moved = shift_rotate(img, torch.tensor([2.0]), torch.tensor([-1.0]), torch.tensor([0.0]))
    expected = torch.zeros_like(img)
    expected[..., :7, 2:] = img[..., 1:, :6]  # right by 2, up by 1
    assert torch.allclose(moved, expected, atol=1e-9)
    cut = cutout(torch.ones(2, 1, 8, 8), torch.tensor([4, 0]), torch.tensor([4, 7]), 4)
    assert (cut[0] == 0).sum() == 16 and (cut[1] == 0).sum() == 6  # the second box is clipped to 2x3


def test_image_regularizers_make_training_harder_but_still_learnable():
    tail = lambda r: sum(r.curves["train_loss"][1][-20:]) / 20  # noqa: E731
    plain = compare(_spec(CNN, 200))[0]
    for reg in ({"augment": {"shift": 1, "rotate": 10}, "cutout": 3}, {"cutmix": 1.0}):
        r = compare(_spec(CNN, 200, reg))[0]
        assert tail(r) > tail(plain) + 0.05, reg
        assert r.summary["final_test_accuracy"] > 0.7, (reg, r.summary)


RANDOM = {"dropout": 0.2, "weight_noise": 0.01, "input_noise": 0.05, "mixup": 0.4,
          "augment": {"shift": 1, "rotate": 5}, "cutout": 2}


def test_arms_of_a_seed_share_every_random_draw_however_runs_are_grouped():
    twins = [{"optimizer": "adam", "lr": 1e-2, "label": "a"}, {"optimizer": "adam", "lr": 1e-2, "label": "b"}]
    spec = _spec({**CNN, "norm": "batch"}, 30, RANDOM, arms=twins, seeds=(0, 1), dtype="float64")
    together = compare(spec)
    curve = lambda rs, i: rs[i].curves["train_loss"][1]  # noqa: E731
    assert curve(together, 0) == curve(together, 2) and curve(together, 1) == curve(together, 3)
    assert curve(together, 0) != curve(together, 1)  # another seed, other draws
    alone = Collector()
    for group in plan_cohorts(spec, max_runs=1):
        make_cohort(spec, group).train(alone)
    for i in range(4):  # stacked 4 or 1 at a time, the convolutions round differently, by ~1e-15
        assert torch.allclose(torch.tensor(curve(alone.runs, i)), torch.tensor(curve(together, i)), rtol=1e-9)


def test_resume_with_batch_norm_and_random_regularizers_equals_uninterrupted():
    arms = [{"optimizer": "adam", "lr": 1e-2}, {"optimizer": "momentum", "lr": 1e-2, "momentum": 0.9}]
    spec = _spec({**CNN, "norm": "batch"}, 40, RANDOM, arms=arms, seeds=(0, 1), eval_every=10,
                 early_stopping={"patience": 1})
    runs = list(range(4))
    reference = Collector()
    straight = make_cohort(spec, runs)
    straight.train(reference)
    saved: list[bytes] = []
    first = make_cohort(spec, runs)
    assert not first.train(Collector(), on_checkpoint=lambda s, b: saved.append(b), checkpoint_every=10,
                           should_stop=lambda: bool(saved))
    resumed, after = make_cohort(spec, runs), Collector()
    resumed.load_state_bytes(saved[0])
    assert resumed.train(after)
    for run, ref in reference.runs.items():
        assert after.runs[run].curves["train_loss"][1] == ref.curves["train_loss"][1][10:]
        assert after.runs[run].summary == ref.summary | {"wall_time": after.runs[run].summary["wall_time"]}
    for a, b in zip(resumed.net.buffers, straight.net.buffers, strict=True):
        assert torch.equal(a, b)
