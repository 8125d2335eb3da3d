"""The job's orchestration: the ranking stage's evaluation, bought together and the customers beside the serving
stage or after it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training import pipeline
from training.pipeline import LOCAL, RunConfig, evaluation_beside, run


@pytest.fixture(scope="module")
def config(shop_dir: Path) -> RunConfig:
    return RunConfig(events=[shop_dir / "events.csv"], items=shop_dir / "items.csv", top_n=20, progress=False)


def test_beside_only_when_asked_or_when_there_is_room(config: RunConfig, monkeypatch) -> None:
    assert not evaluation_beside(replace(config, evaluate_beside=False), LOCAL, 1000)
    assert not evaluation_beside(replace(config, evaluate=False, evaluate_beside=True), LOCAL, 1000)
    assert not evaluation_beside(replace(config, ranking=False, evaluate_beside=True), LOCAL, 1000)
    assert not evaluation_beside(replace(config, evaluate_beside=True), replace(LOCAL, evaluates_beside=False), 1000)
    assert evaluation_beside(replace(config, evaluate_beside=True), LOCAL, 10**9)  # asked for: even without room
    monkeypatch.setattr(pipeline, "available_cpus", lambda: 2)
    monkeypatch.setattr(pipeline, "available_bytes", lambda: 16 * 1024**3)
    assert evaluation_beside(config, LOCAL, 1_000_000)  # 3 x (2 GB + 0.6 GB) fit in 16 GB
    assert not evaluation_beside(config, LOCAL, 10_000_000)  # 3 x (2 GB + 6 GB) do not
    monkeypatch.setattr(pipeline, "available_bytes", lambda: None)
    assert not evaluation_beside(config, LOCAL, 1000)  # memory unknown: in sequence
    monkeypatch.setattr(pipeline, "available_bytes", lambda: 16 * 1024**3)
    monkeypatch.setattr(pipeline, "available_cpus", lambda: 1)
    assert not evaluation_beside(config, LOCAL, 1000)  # one CPU: nothing to gain


def test_the_evaluation_beside_the_serving_stage_is_the_one_in_sequence(config: RunConfig) -> None:
    config = replace(config, min_support=1, min_lift=0.0)  # the test shop's few baskets: lists to compare
    beside = run(replace(config, evaluate_beside=True))
    in_sequence = run(replace(config, evaluate_beside=False))
    a, b = dict(beside.report.shop_evaluation), dict(in_sequence.report.shop_evaluation)
    assert a.pop("ran") == "beside the serving stage, in another process"
    assert b.pop("ran") == "after the serving stage"
    assert a == b and a["lists"]["ranking: main list"]["all"]["ndcg@10"] > 0
    timings = beside.report.timings_seconds
    assert timings["evaluation"] > 0 and timings["customers"] > 0 and timings["bought_together"] > 0
    assert "beside_wait" in timings
    assert (beside.rec_items == in_sequence.rec_items).all()  # what serves does not depend on it either
    np.testing.assert_array_equal(beside.rec_scores, in_sequence.rec_scores)
    # bought together and the customers, computed beside the stage, are the ones computed after it
    pd.testing.assert_frame_equal(beside.customers.profiles, in_sequence.customers.profiles)
    assert beside.customers.members == in_sequence.customers.members
    assert beside.customers.segment_popular == in_sequence.customers.segment_popular
    assert beside.report.customers == in_sequence.report.customers
    a_fbt, b_fbt = beside.merchandising.bought_together, in_sequence.merchandising.bought_together
    assert a_fbt.lists() and a_fbt.lists() == b_fbt.lists() and a_fbt.report == b_fbt.report
    assert beside.report.merchandising == in_sequence.report.merchandising
    # the hybrid (similar items) took the serving stage's ALS instead of fitting the same one again
    assert beside.report.output["hybrid_models_adopted"] == ["als"]
    np.testing.assert_array_equal(beside.similar_scores, in_sequence.similar_scores)


def _broken_evaluation(*args, **kwargs) -> dict:
    raise pipeline.TrainingError("the evaluation broke")


def test_a_failing_evaluation_beside_fails_the_run(config: RunConfig) -> None:
    engine = replace(LOCAL, evaluate_shop=_broken_evaluation)
    with pytest.raises(pipeline.TrainingError, match="the evaluation broke"):
        run(replace(config, evaluate_beside=True), engine)
