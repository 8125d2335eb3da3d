"""LightGBM LambdaRank on candidate features, and the metrics used to choose between ranker and blend.

Training queries are the customers of the label windows that have at least one positive among their
candidates (a query without one carries no gradient); negatives are subsampled per query with a
seed. Validation metrics are computed against the window's full truth sets, so positives the
candidates missed count as misses (the same definition as the shop protocol).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.arrays import order_by_group_then_score, unique_sorted
from training.evaluation.ranking_metrics import ranking_metrics

NUM_THREADS = 1  # fixed (and 1: on a shared 2-core machine, 2 OpenMP threads were up to 9x slower under load)
PREDICT_THREADS = 2  # prediction is the same for any thread count and parallelises without barriers
BASE_PARAMS: dict = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "learning_rate": 0.08,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "lambdarank_truncation_level": 20,
    "deterministic": True,
    "force_row_wise": True,  # the same trees as col-wise at one thread, 20-25% faster on the ranking windows
    "num_threads": NUM_THREADS,
    "verbose": -1,
}
# The grid tried on the validation window: LambdaRank, and LightGBM's XE-NDCG listwise objective (often as
# good, and twice as fast). Each setting is fitted once for its max_rounds (LambdaRank peaked by 100 rounds on
# every validation window seen) and scored at CHECKPOINTS. (A third
# setting, LambdaRank with 15 leaves and 200 rows a leaf, never won on validation and cost ten seconds.)
GRID: tuple[dict, ...] = (
    {"objective": "lambdarank", "num_leaves": 31, "min_data_in_leaf": 50, "max_rounds": 100},
    {"objective": "rank_xendcg", "num_leaves": 31, "min_data_in_leaf": 50, "max_rounds": 150},
)
MAX_ROUNDS = 150
CHECKPOINTS = (25, 50, 75, 100, 150)


@dataclass
class Window:
    """One labelled window: candidate pairs with features and labels, plus the full truth per user."""

    table: pd.DataFrame  # u, i, source columns (sorted by u, i)
    features: pd.DataFrame
    label: np.ndarray  # 1 where the user bought the item in the window
    truth: dict[int, set[int]]  # every item each label user bought in the window
    truth_new: dict[int, set[int]]  # the same minus what the user had bought before the window

    @property
    def queries(self) -> int:
        return len(self.truth)

    @property
    def positives(self) -> int:
        return int(self.label.sum())


def training_rows(w: Window, neg_per_query: int, seed: int) -> np.ndarray:
    """Row indices kept for training: queries with a positive, all their positives, up to n negatives each."""
    u = w.table["u"].to_numpy()
    pos_users = unique_sorted(u[w.label > 0])
    in_query = np.isin(u, pos_users)
    rng = np.random.default_rng(seed)
    noise = rng.random(len(u))
    frame = pd.DataFrame({"u": u, "neg": w.label == 0, "noise": noise, "row": np.arange(len(u))})[in_query]
    frame["k"] = frame.sort_values(["u", "noise"]).groupby("u").cumcount()
    keep = ~frame["neg"] | (frame["k"] < neg_per_query)
    return np.sort(frame.loc[keep, "row"].to_numpy())


def _dataset(windows: list[Window], neg_per_query: int, seed: int):
    import lightgbm as lgb

    xs, ys, groups = [], [], []
    for k, w in enumerate(windows):
        rows = training_rows(w, neg_per_query, seed + k)
        x = w.features.iloc[rows]
        u = w.table["u"].to_numpy()[rows]
        xs.append(x)
        ys.append(w.label[rows])
        groups.append(np.unique(u, return_counts=True)[1])  # rows are sorted by u within a window
    x = pd.concat(xs, ignore_index=True)
    return lgb.Dataset(x, np.concatenate(ys), group=np.concatenate(groups), free_raw_data=False), x.shape[0]


def train(windows: list[Window], params: dict, seed: int, neg_per_query: int, rounds: int):
    """Fit a ranking booster for `rounds` rounds on the windows' sampled rows; (booster, rows used)."""
    import lightgbm as lgb

    train_set, n_rows = _dataset(windows, neg_per_query, seed)
    params = {k: v for k, v in params.items() if k != "max_rounds"}
    booster = lgb.train(dict(BASE_PARAMS, seed=seed, **params), train_set, num_boost_round=rounds)
    return booster, n_rows


def best_checkpoint(booster, valid: Window, checkpoints: tuple[int, ...] = CHECKPOINTS) -> tuple[int, dict]:
    """The number of rounds (among checkpoints) with the best NDCG@10 on the validation window's full truth.

    Scores are accumulated checkpoint to checkpoint (each tree is evaluated once).
    """
    best: tuple[int, dict] | None = None
    raw = np.zeros(len(valid.label), dtype=np.float64)
    done = 0
    for k in checkpoints:
        k = min(k, booster.num_trees())
        if k <= done:
            break
        raw += booster.predict(
            valid.features, start_iteration=done, num_iteration=k - done, raw_score=True, num_threads=NUM_THREADS
        )
        done = k
        m = window_metrics(valid, raw)
        if best is None or m["all_ndcg@10"] > best[1]["all_ndcg@10"] + 1e-9:
            best = (k, m)
    assert best is not None
    return best


def top_lists(table: pd.DataFrame, scores: np.ndarray, k: int) -> dict[int, np.ndarray]:
    """Per user, the k best items by score (ties: lower item index)."""
    if not len(table):
        return {}
    order = order_by_group_then_score(table["u"].to_numpy(), scores)  # tables are sorted by (u, i)
    u = table["u"].to_numpy()[order]
    i = table["i"].to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    ends = np.r_[starts[1:], len(u)]
    return {int(u[s]): i[s : min(e, s + k)] for s, e in zip(starts, ends)}


def window_metrics(w: Window, scores: np.ndarray, k: int = 10) -> dict[str, float]:
    """NDCG/recall@k of the scored candidates against the window's full truth, all and new items."""
    lists = top_lists(w.table, scores, k)
    users = sorted(w.truth)
    rec = np.full((len(users), k), -1, dtype=np.int64)
    for row, uu in enumerate(users):
        items = lists.get(uu, np.zeros(0, np.int64))
        rec[row, : len(items)] = items
    out = {f"all_{m}": v for m, v in ranking_metrics(rec, [w.truth[uu] for uu in users], k).items()}
    new_truth = [w.truth_new.get(uu, set()) for uu in users]
    out |= {f"new_{m}": v for m, v in ranking_metrics(rec, new_truth, k).items()}
    return out


def importances(booster, top: int = 25) -> dict[str, float]:
    """Gain importances as shares of the total, the largest first."""
    gain = booster.feature_importance("gain")
    total = gain.sum() or 1.0
    pairs = sorted(zip(booster.feature_name(), gain / total), key=lambda t: -t[1])
    return {name: round(float(v), 4) for name, v in pairs[:top]}
