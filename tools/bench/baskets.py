"""`python -m tools bench baskets`: frequently bought together on online-retail's invoices.

Protocol (the shop protocol's date cut, on baskets): invoices before 2011-11-01 are the training
purchases (one basket per invoice, `order_id` = InvoiceNo); every later invoice with at least two
distinct products that the training data knows is held out. Each of its products in turn is the query;
the rest of the invoice is relevant. Hit rate@10, NDCG@10 and recall@10 over queries
(training/baskets/evaluation.py). Compared: raw co-occurrence counts (every pair, by baskets together),
item-kNN (training/models/itemknn.py, BM25 cosine) over customers and over invoices, and the
association lists the training run publishes (thresholds, beta chosen on the last 10% of training
invoices).

Cleaning: cancellations (InvoiceNo `C...`), lines with quantity or price <= 0, and non-product codes
(StockCode not starting with five digits: POST, M, DOT, BANK CHARGES, ...) are dropped; guest invoices
(no CustomerID) are kept as baskets with a per-invoice guest id.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.baskets.association import Associations
from training.baskets.baskets import baskets
from training.baskets.evaluation import K, basket_metrics, held_out_queries
from training.baskets.model import BasketSettings, fit, ranked_lists
from training.data import columns as C

ROOT = Path(__file__).resolve().parents[2]
# ../shared/datasets beside the checkout (a worktree one level deeper finds it one level further up)
DEFAULT_SRC = next(
    (p / "shared/datasets/online-retail/online_retail.csv" for p in ROOT.parents if (p / "shared/datasets").is_dir()),
    ROOT.parent / "shared/datasets/online-retail/online_retail.csv",
)
CUT = pd.Timestamp("2011-11-01", tz="UTC")


def load_online_retail(src: Path) -> pd.DataFrame:
    """Purchase events with order ids from the raw UCI file (cleaned as the module docstring says)."""
    raw = pd.read_csv(src, dtype=str, keep_default_na=False)
    qty = pd.to_numeric(raw["Quantity"], errors="coerce")
    price = pd.to_numeric(raw["UnitPrice"], errors="coerce")
    keep = ~raw["InvoiceNo"].str.startswith("C") & (qty > 0) & (price > 0) & raw["StockCode"].str.match(r"^\d{5}")
    raw, qty, price = raw[keep], qty[keep], price[keep]
    customer = raw["CustomerID"].str.replace(r"\.0$", "", regex=True)
    return pd.DataFrame(
        {
            C.USER_ID: np.where(customer != "", customer, "guest-" + raw["InvoiceNo"]),
            C.ITEM_ID: raw["StockCode"].str.upper().to_numpy(),
            C.EVENT: C.PURCHASE,
            C.TIMESTAMP: pd.to_datetime(raw["InvoiceDate"], utc=True),
            C.QUANTITY: qty.to_numpy(),
            C.PRICE: price.to_numpy(),
            C.ORDER_ID: raw["InvoiceNo"].to_numpy(),
        }
    ).reset_index(drop=True)


def _itemknn_lists(rows: np.ndarray, cols: np.ndarray, item_ids: np.ndarray) -> dict[str, list[str]]:
    """Item-kNN (BM25 cosine, the project's model) over a rows x items matrix (customers or invoices)."""
    from training.models.base import TrainingData
    from training.models.itemknn import ItemKNN

    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(rows.max() + 1, len(item_ids)))
    m.sum_duplicates()
    empty = np.zeros(0)
    data = TrainingData(m, m, [""] * len(item_ids), np.array([""] * len(item_ids)), empty, empty, empty)
    model = ItemKNN().fit(data)
    idx, _ = model.similar_items(np.arange(len(item_ids)), K)
    return {str(item_ids[a]): [str(item_ids[i]) for i in row if i >= 0] for a, row in enumerate(idx)}


def main(src: Path = DEFAULT_SRC, out: Path | None = None) -> int:
    started = time.perf_counter()
    events = load_online_retail(src)
    train, test = events[events[C.TIMESTAMP] < CUT], events[events[C.TIMESTAMP] >= CUT]
    b_train = baskets(train)
    assoc = Associations.count(b_train)
    known = set(map(str, assoc.item_ids))
    queries = held_out_queries(baskets(test), known.__contains__)
    results: dict[str, dict] = {}
    timings: dict[str, float] = {}

    t = time.perf_counter()
    raw = ranked_lists(assoc, assoc.rank(K, beta=0.0, min_support=1, min_lift=0.0))
    timings["co-occurrence counts"] = time.perf_counter() - t
    results["co-occurrence counts"] = basket_metrics(lambda q: raw.get(q, ()), queries)

    item_ids = assoc.item_ids
    index = pd.Index(item_ids)
    t = time.perf_counter()
    users = pd.factorize(train[C.USER_ID])[0]
    knn_users = _itemknn_lists(users, index.get_indexer(train[C.ITEM_ID]), item_ids)
    timings["item-kNN, customers"] = time.perf_counter() - t
    results["item-kNN, customers"] = basket_metrics(lambda q: knn_users.get(q, ()), queries)
    t = time.perf_counter()
    knn_baskets = _itemknn_lists(b_train.basket, index.get_indexer(b_train.item), item_ids)
    timings["item-kNN, invoices"] = time.perf_counter() - t
    results["item-kNN, invoices"] = basket_metrics(lambda q: knn_baskets.get(q, ()), queries)

    t = time.perf_counter()
    model = fit(train, settings=BasketSettings(n=K))
    lists = {k: v[0] for k, v in model.lists().items()}
    timings["bought together (published)"] = time.perf_counter() - t
    results["bought together (published)"] = basket_metrics(lambda q: lists.get(q, ()), queries)

    lines = [
        f"online-retail: {len(train)} training purchase lines in {b_train.n_baskets} invoices before {CUT.date()}; "
        f"{len(queries)} queries from held-out invoices; machine: {platform.machine()}, Python "
        f"{platform.python_version()} (shared, 2 cores).",
        f"bought together: beta {model.beta}, half-life {model.half_life_days} days (chosen on the last 10% of "
        f"training invoices), min support {model.report['thresholds']['min_support_baskets']} baskets, min lift "
        f"{model.report['thresholds']['min_lift']}",
        "validation NDCG@10: "
        + ", ".join(f"{k}: {m[f'ndcg@{K}']}" for k, m in model.report["validation"]["by_setting"].items()),
        "",
        f"| list | hit rate@{K} | NDCG@{K} (± s.e.) | recall@{K} | fit s |",
        "|---|---|---|---|---|",
    ]
    for name, m in results.items():
        lines.append(
            f"| {name} | {m[f'hit_rate@{K}']:.4f} | {m[f'ndcg@{K}']:.4f} ± {m[f'ndcg@{K}_se']:.4f} | "
            f"{m[f'recall@{K}']:.4f} | "
            f"{timings[name]:.1f} |"
        )
    lines.append(f"\nwall time {time.perf_counter() - started:.0f} s")
    print("\n".join(lines))
    if out:
        out.write_text(json.dumps({"results": results, "report": model.report}, indent=2, default=str))
    return 0
