"""Each regularizer changes training the way it should; random ones are shared fairly."""

import torch

from engine import compare
from engine.runner import Collector, make_cohort
from engine.spec import ComparisonSpec


def _spec(task: dict, net: dict, steps: int, reg: dict | None, arms=None, seeds=(0,), **train):
    return ComparisonSpec.model_validate({
        "task": task, "net": net, "arms": arms or [{"optimizer": "adam", "lr": 1e-2}], "seeds": list(seeds),
        "train": {"steps": steps, "batch_size": 32, "eval_every": steps, "log_every": 10, **train},
        "regularization": reg})


def _summaries(spec):
    return [r.summary for r in compare(spec).values()]


def _tail(spec, n=10):
    """Mean logged train loss over the last n points, per run."""
    return [sum(r.curves["train_loss"][1][-n:]) / n for r in compare(spec).values()]


WAVE = {"name": "wave", "n": 1000}
MOONS = {"name": "moons", "n": 120, "noise": 0.3}
BIG = {"hidden": [128, 128], "activation": "relu"}


def test_l2_penalty_shrinks_the_weights():
    def norm(reg):
        cohort = make_cohort(_spec(WAVE, {"hidden": [32, 32]}, 300, reg), [0])
        cohort.train(Collector())
        return (cohort.P * cohort.net.weight_mask().to(cohort.P)).norm().item()

    assert norm({"l2": 0.05}) < 0.8 * norm(None)


def test_dropout_and_l2_shrink_the_generalization_gap_of_an_overfitting_net():
    plain = _summaries(_spec(MOONS, BIG, 1500, None, seeds=(0, 1)))
    drop = _summaries(_spec(MOONS, BIG, 1500, {"dropout": 0.5}, seeds=(0, 1)))
    l2 = _summaries(_spec(MOONS, BIG, 1500, {"l2": 0.01}, seeds=(0, 1)))
    gap = lambda rows: sum(r["generalization_gap"] for r in rows) / len(rows)  # noqa: E731
    assert gap(plain) > 0.2  # the plain net does overfit 96 points
    assert gap(drop) < 0.5 * gap(plain) and gap(l2) < 0.5 * gap(plain)


def test_input_and_weight_noise_raise_the_training_loss():
    plain, inputs, weights = (_tail(_spec(WAVE, {"hidden": [32, 32]}, 500, reg))[0]
                              for reg in (None, {"input_noise": 0.3}, {"weight_noise": 0.2}))
    assert inputs > 2 * plain and weights > 2 * plain


def test_label_smoothing_lowers_the_confidence_of_predictions():
    def confidence(reg):
        cohort = make_cohort(_spec({"name": "blobs", "n": 600}, {"hidden": [32]}, 400, reg), [0])
        cohort.train(Collector())
        out = cohort.net.forward(cohort.net.views(cohort.P), cohort.data.test.x)
        return out.softmax(-1).max(-1).values.mean().item()

    plain, smooth = confidence(None), confidence({"label_smoothing": 0.2})
    assert smooth < plain - 0.03
    assert smooth < 1 - 0.2 + 0.2 / 4 + 0.02  # the smoothed target's own confidence, give or take


def test_mixup_raises_the_training_loss_floor():
    plain, mixed = (_tail(_spec({"name": "blobs", "n": 600}, {"hidden": [32]}, 400, reg))[0]
                    for reg in (None, {"mixup": 1.0}))
    assert mixed > plain + 0.1


def test_batch_norm_speeds_up_sgd_on_a_deep_sigmoid_net():
    net = {"hidden": [32, 32, 32, 32], "activation": "sigmoid"}
    arms = [{"optimizer": "sgd", "lr": 0.1}]
    plain, normed = (_tail(_spec({"name": "blobs", "n": 600}, {**net, "norm": norm}, 300, None, arms=arms))[0]
                     for norm in ("none", "batch"))
    assert normed < 0.5 * plain


def test_new_synthetic_tasks_know_their_truth():
    from engine.tasks import make_task

    spec = _spec({"name": "sines", "n": 2000, "noise": 0.1}, {"hidden": [8]}, 1, None)
    data = make_task(spec.task)
    resid = data.train.y - data.truth(data.train.x)
    assert abs(resid.std().item() - 0.1) < 0.01
    blobs = make_task(_spec({"name": "blobs", "n": 4000}, {"hidden": [8]}, 1, None).task)
    posterior = blobs.truth(blobs.test.x)
    assert torch.allclose(posterior.sum(1), torch.ones(len(posterior), dtype=posterior.dtype))
    assert (posterior.argmax(1) == blobs.test.y).double().mean() > 0.9  # the Bayes classifier


def test_options_that_do_not_fit_the_task_or_net_name_their_field():
    import pytest
    from pydantic import ValidationError

    cases = [({"task": {"name": "wave"}, "regularization": {"label_smoothing": 0.1}}, "regularization",
              "label_smoothing"),
             ({"task": {"name": "moons"}, "regularization": {"cutout": 2}}, "regularization", "cutout"),
             ({"net": {"kind": "cnn"}}, "net", "cnn"),
             ({"net": {"norm": "instance"}}, "net", "instance"),
             ({"net": {"norm": "group", "groups": 5}}, "net", "groups"),
             ({"regularization": {"dropout": 1.0}}, "regularization.dropout", "less than 1"),
             ({"regularization": {"mixup": 1.0, "cutmix": 1.0}, "task": {"name": "digits"}}, "regularization",
              "one of")]
    for patch, path, word in cases:
        with pytest.raises(ValidationError) as exc:
            ComparisonSpec.model_validate({"arms": [{"optimizer": "adam"}], **patch})
        (err,) = exc.value.errors()
        assert ".".join(map(str, err["loc"])) == path and word in err["msg"], (patch, err)
