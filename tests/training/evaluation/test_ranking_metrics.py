from __future__ import annotations

import math

import numpy as np
import pytest

from training.evaluation.ranking_metrics import catalog_coverage, ranking_metrics


def test_hand_computed_values() -> None:
    # User 0: hits at ranks 1 and 3 of k=3, 2 relevant items. User 1: one hit at rank 2, 3 relevant.
    rec = np.array([[1, 2, 3], [4, 5, 6]])
    rel = [{1, 3}, {5, 7, 8}]
    m = ranking_metrics(rec, rel, k=3)
    assert m["precision@3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert m["recall@3"] == pytest.approx((2 / 2 + 1 / 3) / 2)
    d = [1 / math.log2(r + 1) for r in (1, 2, 3)]
    ndcg0 = (d[0] + d[2]) / (d[0] + d[1])
    ndcg1 = d[1] / (d[0] + d[1] + d[2])
    assert m["ndcg@3"] == pytest.approx((ndcg0 + ndcg1) / 2)
    ap0 = (1 / 1 + 2 / 3) / 2
    ap1 = (1 / 2) / 3
    assert m["map@3"] == pytest.approx((ap0 + ap1) / 2)
    assert m["users"] == 2


def test_users_without_relevant_items_are_ignored_and_padding_never_hits() -> None:
    rec = np.array([[1, -1, -1], [2, 3, 4]])
    m = ranking_metrics(rec, [{1}, set()], k=3)
    assert m["users"] == 1 and m["ndcg@3"] == pytest.approx(1.0) and m["precision@3"] == pytest.approx(1 / 3)


def test_perfect_and_empty() -> None:
    assert ranking_metrics(np.array([[0, 1]]), [{0, 1}], k=2)["ndcg@2"] == pytest.approx(1.0)
    assert ranking_metrics(np.array([[5, 6]]), [{0}], k=2)["ndcg@2"] == 0.0
    assert ranking_metrics(np.array([[5, 6]]), [set()], k=2)["users"] == 0


def test_coverage() -> None:
    assert catalog_coverage(np.array([[0, 1], [1, -1]]), n_items=4, k=2) == 0.5
