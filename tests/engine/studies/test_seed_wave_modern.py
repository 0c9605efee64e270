"""Preset ``seed-wave-modern``: the notes' experiment with the whole catalogue, 10 seeds."""

from engine.catalogue import CATALOGUE
from engine.presets import DESCRIPTIONS, preset


def test_seed_wave_modern_is_seed_wave_with_the_catalogue_at_default_learning_rates():
    modern, notes = preset("seed-wave-modern"), preset("seed-wave")
    assert (modern.task, modern.net, modern.train) == (notes.task, notes.net, notes.train)
    assert modern.seeds == list(range(10))
    # The notes' three exactly as seed-wave has them, then every catalogue optimizer, built from
    # the catalogue when the presets load, at its class's own default learning rate.
    assert modern.arms[:3] == notes.arms
    rest = modern.arms[3:]
    assert [a.optimizer for a in rest] == list(CATALOGUE)
    for arm in rest:
        defaults = {h.name: h.default for h in CATALOGUE[arm.optimizer].hparams}
        assert arm.hyperparams() == defaults and arm.display() == CATALOGUE[arm.optimizer].title
    assert all(d.title in DESCRIPTIONS["seed-wave-modern"] for d in CATALOGUE.values())
