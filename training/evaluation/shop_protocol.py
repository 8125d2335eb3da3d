"""How a shop sees its recommendations: metrics over all test items and over items new to the customer.

The test is, per known customer (someone with a training event), the set of distinct items they
purchased in the test part (a global time split: everything from `test_from`; or the job's per-user
split). Metrics at 10 are computed against every test item ("all") and against the test items the
customer had not purchased before ("new"). Customers with no new test item are left out of the "new"
average; the number of users behind each average and the 95% interval of NDCG are reported. Peers are
computed on the same split: popular in the last 30 days, buy-again, EASE (seen items excluded).

A list that mixes repurchases and discoveries (the ranking stage's main list) scores low on "new" by
construction: its first places go to what the customer will buy again. The stage's "discover" list, the
same ranking without the customer's past purchases (what a storefront gets when it excludes purchases,
and how the EASE and popular peers are scored), is reported beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.arrays import unique_sorted
from training.candidates.cf import EASE_MAX_ITEMS, spd_inverse
from training.data import columns as C
from training.evaluation.ranking_metrics import ranking_metrics

K = 10


@dataclass
class ShopSplit:
    """A global time split and its per-customer test sets (external ids)."""

    train: pd.DataFrame
    test: pd.DataFrame
    test_from: pd.Timestamp
    truth_all: dict[str, set[str]]
    truth_new: dict[str, set[str]]

    @property
    def users(self) -> list[str]:
        return sorted(self.truth_all)

    @cached_property
    def n_items(self) -> int:
        """Items of the training part (the space coverage is measured in)."""
        return int(self.train[C.ITEM_ID].nunique())

    def sample(self, max_users: int | None, seed: int) -> ShopSplit:
        """At most `max_users` test customers (a seeded sample): metrics then come with a wider interval."""
        if not max_users or len(self.truth_all) <= max_users:
            return self
        keep = set(np.random.default_rng(seed).choice(np.array(self.users, dtype=object), max_users, replace=False))
        return ShopSplit(
            train=self.train,
            test=self.test[self.test[C.USER_ID].isin(keep)],
            test_from=self.test_from,
            truth_all={u: v for u, v in self.truth_all.items() if u in keep},
            truth_new={u: v for u, v in self.truth_new.items() if u in keep},
        )

    def repeat_share(self) -> float:
        """Share of (customer, test item) pairs the customer had bought before the cut."""
        total = sum(len(v) for v in self.truth_all.values())
        new = sum(len(v) for v in self.truth_new.values())
        return 1.0 - new / total if total else 0.0


def global_cut(events: pd.DataFrame, test_from: pd.Timestamp | None, test_days: float | None) -> pd.Timestamp:
    """The first instant of the test part: `test_from`, or the last event minus `test_days`."""
    if test_from is not None:
        cut = pd.Timestamp(test_from)
        return cut.tz_localize("UTC") if cut.tzinfo is None else cut
    return events[C.TIMESTAMP].max() - pd.Timedelta(days=float(test_days))


def split(events: pd.DataFrame, test_from: str | pd.Timestamp) -> ShopSplit:
    """Events before `test_from` train; known customers' distinct purchases from then on are the test."""
    cut = global_cut(events, pd.Timestamp(test_from), None)
    return from_parts(events[events[C.TIMESTAMP] < cut], events[events[C.TIMESTAMP] >= cut], cut)


def from_parts(train: pd.DataFrame, test: pd.DataFrame, test_from: pd.Timestamp | None = None) -> ShopSplit:
    """The split of given train and test events: the test's purchases by known customers (all its events
    when the data has no purchase at all, as in a catalog of views and ratings)."""
    if (test[C.EVENT] == C.PURCHASE).any():
        test = test[test[C.EVENT] == C.PURCHASE]
    test = test[test[C.USER_ID].isin(set(train[C.USER_ID].unique()))]
    bought = train[train[C.EVENT] == C.PURCHASE].groupby(C.USER_ID)[C.ITEM_ID].agg(set).to_dict()
    truth_all = {u: set(g) for u, g in test.groupby(C.USER_ID)[C.ITEM_ID]}
    truth_new = {u: items - bought.get(u, set()) for u, items in truth_all.items()}
    cut = test_from if test_from is not None else train[C.TIMESTAMP].max()
    return ShopSplit(train=train, test=test, test_from=cut, truth_all=truth_all, truth_new=truth_new)


def list_metrics(
    lists: Mapping[str, Sequence[str]], truth: Mapping[str, set[str]], k: int = K, n_items: int | None = None
) -> dict[str, float]:
    """Precision/recall/NDCG/MAP@k of per-user lists against `truth` (users with an empty truth left out);
    with `n_items`, coverage@k too (distinct items in those users' top k, as a share of `n_items`).

    A user in `truth` without a list counts as an empty list (zero).
    """
    users = [u for u in sorted(truth) if truth[u]]
    vocab: dict[str, int] = {}

    def code(item: str) -> int:
        return vocab.setdefault(item, len(vocab))

    rec = np.full((len(users), k), -1, dtype=np.int64)
    rel = []
    for row, u in enumerate(users):
        items = [code(i) for i in list(lists.get(u, ()))[:k] if i != ""]
        rec[row, : len(items)] = items
        rel.append({code(i) for i in truth[u]})
    out = ranking_metrics(rec, rel, k)
    if n_items:
        out[f"coverage@{k}"] = float(len(unique_sorted(rec[rec >= 0])) / n_items)
    return out


def evaluate_lists(lists: Mapping[str, Sequence[str]], s: ShopSplit, k: int = K) -> dict[str, dict[str, float]]:
    """The same lists scored over all test items and over items new to the customer."""
    n_items = s.n_items
    return {"all": list_metrics(lists, s.truth_all, k, n_items), "new": list_metrics(lists, s.truth_new, k, n_items)}


def _purchases(train: pd.DataFrame) -> pd.DataFrame:
    return train[train[C.EVENT] == C.PURCHASE]


def popular_recent(train: pd.DataFrame, days: float = 30.0, n: int = 100) -> list[str]:
    """Items by distinct buyers in the last `days` days of training (ties: more lines, then id)."""
    p = _purchases(train)
    recent = p[p[C.TIMESTAMP] >= p[C.TIMESTAMP].max() - pd.Timedelta(days=days)]
    stats = recent.groupby(C.ITEM_ID).agg(buyers=(C.USER_ID, "nunique"), lines=(C.USER_ID, "size"))
    stats = stats.sort_values(["buyers", "lines"], ascending=False, kind="stable")
    return list(stats.index[:n])


def buy_again(train: pd.DataFrame, n: int = 100) -> dict[str, list[str]]:
    """Per customer, their own purchased items by distinct days bought, then the most recent first."""
    p = _purchases(train)
    day = p[C.TIMESTAMP].dt.floor("D")
    g = p.assign(_day=day).groupby([C.USER_ID, C.ITEM_ID])
    stats = g.agg(days=("_day", "nunique"), last=(C.TIMESTAMP, "max")).reset_index()
    stats = stats.sort_values([C.USER_ID, "days", "last", C.ITEM_ID], ascending=[True, False, False, True])
    return {u: list(grp[C.ITEM_ID].iloc[:n]) for u, grp in stats.groupby(C.USER_ID, sort=False)}


def ease_lists(
    train: pd.DataFrame, users: Sequence[str], l2: float = 200.0, n: int = 100, exclude_seen: bool = True
) -> dict[str, list[str]]:
    """EASE on the binary customer x item purchase matrix; purchased items excluded when asked."""
    p = _purchases(train)
    uid = pd.Index(sorted(p[C.USER_ID].unique()))
    iid = pd.Index(sorted(p[C.ITEM_ID].unique()))
    x = sp.csr_matrix(
        (np.ones(len(p), dtype=np.float64), (uid.get_indexer(p[C.USER_ID]), iid.get_indexer(p[C.ITEM_ID]))),
        shape=(len(uid), len(iid)),
    )
    x.sum_duplicates()
    x.data[:] = 1.0
    gram = (x.T @ x).toarray()
    gram[np.diag_indices_from(gram)] += l2
    inv = spd_inverse(gram)
    b = -inv / np.diag(inv)
    b[np.diag_indices_from(b)] = 0.0
    rows = uid.get_indexer(pd.Index(users))
    out: dict[str, list[str]] = {}
    for start in range(0, len(users), 1024):
        chunk = rows[start : start + 1024]
        ok = chunk >= 0
        scores = np.asarray(x[chunk[ok]] @ b)
        if exclude_seen:
            scores[x[chunk[ok]].toarray() > 0] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :n]
        for u, r in zip(np.asarray(users[start : start + 1024], dtype=object)[ok], top):
            out[str(u)] = list(iid[r])
    return out


def peers(s: ShopSplit, n: int = 100) -> dict[str, dict[str, dict[str, float]]]:
    """Metrics of the simple peers on the split.

    Popular is scored as one list for "all" and with the customer's purchased items removed for
    "new" (the fair discovery peer); EASE always excludes purchased items; buy-again has nothing new.
    """
    users = s.users
    pop = popular_recent(s.train, n=n)
    again = buy_again(s.train, n=n)
    seen = _purchases(s.train).groupby(C.USER_ID)[C.ITEM_ID].agg(set).to_dict()
    pop_unseen = {u: [i for i in pop if i not in seen.get(u, ())] for u in users}
    out = {
        "popular_30d": {
            "all": list_metrics({u: pop for u in users}, s.truth_all, n_items=s.n_items),
            "new": list_metrics(pop_unseen, s.truth_new, n_items=s.n_items),
        },
        "buy_again": evaluate_lists(again, s),
    }
    if _purchases(s.train)[C.ITEM_ID].nunique() <= EASE_MAX_ITEMS:
        out["ease_l2_200"] = evaluate_lists(ease_lists(s.train, users, n=n), s)
    return out


def metrics_table(rows: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Markdown table of NDCG@10 / recall@10 over all and new test items."""
    lines = [
        "| list | NDCG@10 all | recall@10 all | NDCG@10 new | recall@10 new | users all / new |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in rows.items():
        a, nw = m["all"], m["new"]
        lines.append(
            f"| {name} | {a['ndcg@10']:.4f} | {a['recall@10']:.4f} | {nw['ndcg@10']:.4f} | {nw['recall@10']:.4f} "
            f"| {a['users']} / {nw['users']} |"
        )
    return "\n".join(lines)


def source_lists(result, k: int = K) -> dict[str, dict[str, list[str]]]:
    """Each candidate source's own top-k per customer (its rank), from a stage run with its candidates kept."""
    table, ctx = result.candidates, result.context
    user_ids, item_ids = ctx.users.ids, ctx.items.ids
    out: dict[str, dict[str, list[str]]] = {}
    for name in result.report.get("sources", []):
        col = f"r_{name}"
        part = table.loc[table[col].notna(), ["u", "i", col]].sort_values(["u", col], kind="stable")
        part = part.groupby("u", sort=False).head(k)
        u, i = part["u"].to_numpy(), part["i"].to_numpy()
        starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if len(u) else np.zeros(0, np.int64)
        ends = np.r_[starts[1:], len(u)]
        out[name] = {str(user_ids[u[a]]): list(item_ids[i[a:b]]) for a, b in zip(starts, ends)}
    return out


def candidate_recall(result, s: ShopSplit) -> dict[str, dict[str, float]]:
    """Share of the test pairs each source proposed (and the union), over all and over new items."""
    from training.candidates.union import source_recall

    ctx = result.context

    def internal(truth: Mapping[str, set[str]]) -> dict[int, set[int]]:
        # two lookups in all (one per customer and call cost 2.6 s of online-retail's evaluation)
        users = list(truth)
        uu = ctx.users.to_index(users, missing_ok=True)
        items = [list(truth[u]) for u in users]
        ii = ctx.items.to_index([i for group in items for i in group], missing_ok=True)
        bounds = np.cumsum([0] + [len(group) for group in items])
        return {
            int(uu[k]): {int(x) for x in ii[bounds[k] : bounds[k + 1]] if x >= 0}
            for k in range(len(users))
            if uu[k] >= 0
        }

    names = result.report.get("sources", [])
    return {
        "all": source_recall(result.candidates, internal(s.truth_all), names),
        "new": source_recall(result.candidates, internal(s.truth_new), names),
    }


def evaluate_stage(
    s: ShopSplit, items: pd.DataFrame, top_n: int, seed: int, event_weights=None, stage_config=None
) -> dict:
    """The ranking stage fitted on the split's training events, scored with its sources and the peers.

    Returns {"lists": {name: {"all": metrics, "new": metrics}}, "candidate_recall": ..., "stage": report}.
    """
    from training.ranking.stage import rank

    result = rank(
        s.train,
        items,
        top_n=top_n,
        seed=seed,
        users=s.users,
        event_weights=event_weights,
        keep_candidates=True,
        config=stage_config,
    )
    rows: dict = {
        "ranking: main list": evaluate_lists(result.lists(), s),
        "ranking: discover (never bought)": evaluate_lists(result.new_lists(), s),
        "ranking: order again": evaluate_lists(result.buy_again_lists(), s),
    }
    for name, lists in source_lists(result).items():
        rows[f"source: {name}"] = evaluate_lists(lists, s)
    rows |= peers(s)
    return {
        "lists": rows,
        "candidate_recall": candidate_recall(result, s),
        "stage": {
            k: result.report.get(k) for k in ("mode", "layout", "why", "validation", "ranker") if k in result.report
        },
    }
