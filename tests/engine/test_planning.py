"""Cutting a job into shards: by batch size, by runs, and by examples per step."""

from engine import preset
from engine.design import plan_cohorts, stage


def test_full_batch_groups_are_cut_by_examples_per_step():
    spec = stage(preset("tuning-wave"), 0).spec  # 900 runs; gd reads all 1,600 rows each step
    shards = plan_cohorts(spec, max_runs=100, max_examples=40_000)
    runs = spec.runs()
    assert sorted(i for s in shards for i in s) == list(range(900))  # every run exactly once
    for shard in shards:
        sizes = {spec.batch_size_of(spec.arms[runs[i].arm]) for i in shard}
        assert len(sizes) == 1  # one batch size per shard: they train stacked
        full = sizes == {0}
        assert len(shard) <= (25 if full else 100)
    full_shards = [s for s in shards if spec.batch_size_of(spec.arms[runs[s[0]].arm]) == 0]
    assert len(full_shards) == 4  # 100 gd runs, 40,000 // 1,600 = 25 per shard
    assert plan_cohorts(spec, max_runs=100) != shards  # without the cap gd shards hold 100
