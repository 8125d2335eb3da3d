"""The served lists as the job hands them to the publisher: ids and item indexes say the same thing."""

from __future__ import annotations

import numpy as np
import pytest

from training.datasets.grocery import generate
from training.ranking.serving import served_lists
from training.ranking.stage import rank


@pytest.fixture(scope="module")
def shop():
    return generate(n_users=120, days=120, seed=3)


@pytest.fixture(scope="module")
def result(shop):
    return rank(shop.events, shop.items, top_n=10, seed=1)


@pytest.mark.parametrize("policy", ["auto", "none", "purchased"])
def test_served_indexes_name_the_served_ids(shop, result, policy: str) -> None:
    users = np.array(sorted(shop.events.user_id.unique()) + ["nobody-ranked"], dtype=object)
    item_ids = np.array(sorted(shop.items.item_id)[::-1], dtype=object)  # another order than the stage's
    hybrid_index = np.tile(np.arange(10), (len(users), 1))
    hybrid_items = item_ids[hybrid_index]
    hybrid_scores = np.ones(hybrid_index.shape, np.float32)
    served = served_lists(result, shop.events, users, policy, hybrid_items, hybrid_scores, {}, hybrid_index, item_ids)
    assert served.index is not None and served.index.shape == served.items.shape
    named = np.where(served.index >= 0, item_ids[np.clip(served.index, 0, None)], "")
    assert (named == served.items).all()
    assert (served.index[-1] == np.arange(10)).all()  # a user the stage did not cover keeps the hybrid's row


def test_without_the_hybrids_indexes_there_are_none(shop, result) -> None:
    users = np.array(sorted(shop.events.user_id.unique()), dtype=object)
    blank = np.full((len(users), 10), "", dtype=object)
    served = served_lists(result, shop.events, users, "auto", blank, np.zeros(blank.shape, np.float32), {})
    assert served.index is None


def test_auto_leaves_the_shown_items_out_of_the_purchased_sets(shop, result) -> None:
    """Under `auto` the service's filter drops only what the stage dropped: a purchase the served row
    shows again leaves the user's purchased set; other purchases, and users not served, stay."""
    users = np.array(sorted(shop.events.user_id.unique()), dtype=object)
    blank = np.full((len(users), 10), "", dtype=object)
    zeros = np.zeros(blank.shape, np.float32)
    first = served_lists(result, shop.events, users, "none", blank, zeros, {})
    purchased = {str(u): [row[0], "never-shown"] for u, row in zip(users, first.items) if row[0]}
    purchased["not-served"] = [first.items[0][0]]
    assert len(purchased) > 50
    auto = served_lists(result, shop.events, users, "auto", blank, zeros, purchased)
    none = served_lists(result, shop.events, users, "none", blank, zeros, purchased)
    assert none.purchased == purchased
    assert auto.purchased == {u: ["never-shown"] for u in purchased if u != "not-served"} | {
        "not-served": purchased["not-served"]
    }


def test_a_stage_covering_everyone_in_order_serves_its_own_arrays(shop, result) -> None:
    item_ids = np.array(sorted(shop.items.item_id), dtype=object)
    served = served_lists(result, shop.events, result.user_ids.copy(), "auto", None, None, {}, None, item_ids)
    assert served.scores is result.scores and served.reasons is result.reasons  # no copies (1.3 GB at 330k users)
    assert served.buy_again_scores is result.buy_again_scores
    assert (served.items == result.items).all() and (served.buy_again_items == result.buy_again_items).all()
    named = np.where(served.index >= 0, item_ids[np.clip(served.index, 0, None)], "")
    assert (named == served.items).all()


def test_without_the_hybrids_lists_an_uncovered_user_gets_an_empty_row(shop, result) -> None:
    users = np.concatenate([result.user_ids[::-1], np.array(["nobody-ranked"], dtype=object)])
    item_ids = np.array(sorted(shop.items.item_id), dtype=object)
    served = served_lists(result, shop.events, users, "auto", None, None, {}, None, item_ids)
    assert (served.items[:-1] == result.items[::-1]).all()
    assert (served.items[-1] == "").all() and np.isnan(served.scores[-1]).all() and (served.index[-1] == -1).all()
    assert (served.reasons[-1] == "").all() and (served.buy_again_items[-1] == "").all()


def test_the_results_codes_name_its_lists(result) -> None:
    """The stage holds its lists as item codes; as ids they are the codes' ids, '' where padded, and a result
    made from such ids (the Spark engine's) has the same lists."""
    for codes, ids in (
        (result.item_codes, result.items),
        (result.buy_again_codes, result.buy_again_items),
        (result.new_codes, result.new_items),
    ):
        assert codes.dtype == np.int32 and ids.dtype == object and codes.shape == ids.shape
        assert (ids[codes < 0] == "").all() and (ids[codes >= 0] == result.code_ids[codes[codes >= 0]]).all()
    assert result.lists() == {str(u): [i for i in row if i] for u, row in zip(result.user_ids, result.items)}
    again = result.buy_again_items
    rebuilt = type(result).of_ids(
        result.user_ids, result.items, again, result.new_items,
        scores=result.scores, reasons=result.reasons, buy_again_scores=result.buy_again_scores,
        new_scores=result.new_scores, report={},
    )  # fmt: skip
    assert (rebuilt.items == result.items).all() and (rebuilt.buy_again_items == again).all()
    assert (rebuilt.new_items == result.new_items).all()
    assert rebuilt.lists() == result.lists() and rebuilt.new_lists() == result.new_lists()
    assert rebuilt.buy_again_lists() == result.buy_again_lists()
