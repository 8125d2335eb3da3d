"""Behavioural clusters: k-means on standardised RFM and category-share features, k by silhouette."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

SILHOUETTE_SAMPLE = 5000
SELECTION_SAMPLE = 20000  # customers k is chosen on (the final fit sees everyone)
SELECTION_INIT = 3  # k-means restarts per candidate k while choosing k; the chosen k gets FINAL_INIT
FINAL_INIT = 10
MAX_SHARES = 10


@dataclass
class ClusterResult:
    labels: pd.Series  # customer -> cluster name
    k: int
    silhouette: dict[int, float]
    profiles: list[dict] = field(default_factory=list)


def features(rfm: pd.DataFrame, category_spend: pd.DataFrame) -> pd.DataFrame:
    """log RFM values plus each category's share of the customer's spend: the `MAX_SHARES` categories with
    the most spend in the shop and one share for all the others (a catalog of 185 categories made
    customers far apart in every direction: every silhouette was negative on online-retail)."""
    base = pd.DataFrame(
        {
            "recency": np.log1p(rfm["recency_days"]),
            "frequency": np.log1p(rfm["frequency"]),
            "monetary": np.log1p(rfm["monetary"]),
        },
        index=rfm.index,
    )
    shares = category_spend.reindex(rfm.index).fillna(0.0)
    if shares.shape[1] > MAX_SHARES:
        top = shares.sum().sort_values(ascending=False, kind="stable").index[:MAX_SHARES]
        rest = shares.drop(columns=top).sum(axis=1)
        shares = shares[top].assign(other=rest)
    totals = shares.sum(axis=1).replace(0, 1.0)
    shares = shares.div(totals, axis=0).add_prefix("share_")
    return pd.concat([base, shares], axis=1)


def _name(z: pd.Series, raw_shares: pd.Series) -> str:
    parts = []
    if z["recency"] > 0.5:
        parts.append("lapsed")
    elif z["recency"] < -0.5:
        parts.append("recent")
    if z["frequency"] > 0.5:
        parts.append("frequent")
    elif z["frequency"] < -0.5:
        parts.append("occasional")
    if z["monetary"] > 0.5:
        parts.append("high-value")
    elif z["monetary"] < -0.5:
        parts.append("low-spend")
    else:
        parts.append("mid-value")
    named = raw_shares.drop(labels=["share_other"], errors="ignore")  # "the other categories" names nothing
    if len(named) and named.max() >= 0.4:
        parts.append(str(named.idxmax()).removeprefix("share_"))
    return " ".join(parts)


def cluster(feats: pd.DataFrame, k_min: int = 2, k_max: int = 8, random_state: int = 42) -> ClusterResult:
    n = len(feats)
    if n < 3:
        labels = pd.Series(["all customers"] * n, index=feats.index)
        return ClusterResult(labels, 1, {}, [{"name": "all customers", "size": n}])
    x = StandardScaler().fit_transform(feats.to_numpy(dtype=float))
    k_max = min(k_max, n - 1)
    # k is chosen on a seeded sample with few restarts (70 full fits took most of the customers stage);
    # only the chosen k is fitted on every customer with the full restarts.
    rng = np.random.default_rng(random_state)
    x_sel = x[rng.choice(n, SELECTION_SAMPLE, replace=False)] if n > SELECTION_SAMPLE else x
    scores: dict[int, float] = {}
    # One OpenMP thread for these small fits: threads cost 10x more than they save at this size (measured
    # on 2 cores, 4,300 customers); the final fit on every customer keeps the default.
    with threadpool_limits(1, user_api="openmp"):
        for k in range(max(2, k_min), max(2, k_max) + 1):
            km = KMeans(n_clusters=k, n_init=SELECTION_INIT, random_state=random_state).fit(x_sel)
            if len(set(km.labels_)) < 2:
                continue
            sample = min(SILHOUETTE_SAMPLE, len(x_sel))
            scores[k] = float(silhouette_score(x_sel, km.labels_, sample_size=sample, random_state=random_state))
    if not scores:
        labels = pd.Series(["all customers"] * n, index=feats.index)
        return ClusterResult(labels, 1, scores, [{"name": "all customers", "size": n}])
    k = max(scores, key=lambda kk: (scores[kk], -kk))
    with threadpool_limits(1 if n <= SELECTION_SAMPLE else None, user_api="openmp"):
        km = KMeans(n_clusters=k, n_init=FINAL_INIT, random_state=random_state).fit(x)
    if len(set(km.labels_)) < 2:
        labels = pd.Series(["all customers"] * n, index=feats.index)
        return ClusterResult(labels, 1, scores, [{"name": "all customers", "size": n}])
    share_cols = [c for c in feats.columns if c.startswith("share_")]
    z_centroids = pd.DataFrame(km.cluster_centers_, columns=feats.columns)
    raw = feats.groupby(km.labels_).mean()
    names: dict[int, str] = {}
    used: dict[str, int] = {}
    for c in range(k):
        name = _name(z_centroids.loc[c], raw.loc[c, share_cols] if share_cols else pd.Series(dtype=float))
        used[name] = used.get(name, 0) + 1
        names[c] = name if used[name] == 1 else f"{name} {used[name]}"
    labels = pd.Series([names[c] for c in km.labels_], index=feats.index)
    profiles = []
    for c in range(k):
        members = km.labels_ == c
        centroid = raw.loc[c]
        profiles.append(
            {
                "name": names[c],
                "size": int(members.sum()),
                "centroid": {
                    "recency_days": round(float(np.expm1(centroid["recency"])), 1),
                    "frequency": round(float(np.expm1(centroid["frequency"])), 2),
                    "monetary": round(float(np.expm1(centroid["monetary"])), 2),
                    **{
                        col.removeprefix("share_"): round(float(centroid[col]), 3)
                        for col in share_cols
                        if centroid[col] >= 0.05
                    },
                },
            }
        )
    return ClusterResult(labels, k, scores, profiles)
