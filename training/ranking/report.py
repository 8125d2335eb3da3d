"""The ranking stage's part of the training report (Markdown): what served and why, and the shop table."""

from __future__ import annotations

ALL_NEW_COLUMNS = ("ndcg@10", "recall@10", "precision@10", "map@10")


def _row(name: str, m: dict) -> str:
    a, n = m["all"], m["new"]
    cells = [f"{a[c]:.4f}" for c in ALL_NEW_COLUMNS] + [f"{n[c]:.4f}" for c in ALL_NEW_COLUMNS]
    ci = f"±{a.get('ndcg@10_ci95', 0.0):.4f} / ±{n.get('ndcg@10_ci95', 0.0):.4f}"
    return f"| {name} | " + " | ".join(cells) + f" | {ci} | {a['users']} / {n['users']} |"


def markdown_lines(ranking: dict | None, shop: dict | None) -> list[str]:
    lines: list[str] = []
    if ranking:
        lines += ["", "## Ranking stage", ""]
        lines += [f"- serving: **{ranking.get('mode')}**" + (f" ({ranking['why']})" if ranking.get("why") else "")]
        lines += [f"- label windows: {ranking.get('layout')} ({len(ranking.get('windows', []))} windows)"]
        lines += [f"- candidate sources: {', '.join(ranking.get('sources', []))}"]
        ranker = ranking.get("ranker")
        if ranker:
            params = {k: v for k, v in ranker["params"].items() if k not in ("verbose", "deterministic")}
            lines += [f"- ranker: {params}, {ranker['rounds']} rounds, {ranker['training_rows']} training rows"]
            top = sorted(ranker.get("importances", {}).items(), key=lambda kv: -kv[1])[:12]
            lines += ["- feature importances (gain share): " + ", ".join(f"{k} {v:.3f}" for k, v in top)]
        val = ranking.get("validation")
        if val:
            lines += [
                f"- validation window NDCG@10: ranker {val['ranker'].get('all_ndcg@10')}, "
                f"blend {val['blend'].get('all_ndcg@10')}"
            ]
        serving = ranking.get("serving", {})
        if serving:
            lines += [f"- served {serving['users']} customers, {serving['candidates_per_user']} candidates each"]
    if shop:
        lines += [
            "",
            "## Shop protocol: all test items and items new to the customer",
            "",
            f"Split: {shop['split']}. Test customers: {shop['customers']} ({shop['customers_evaluated']} evaluated); "
            f"{shop['repeat_share']:.0%} of the test pairs were bought before. NDCG intervals are 95%.",
            "",
            "| list | NDCG all | recall all | P all | MAP all | NDCG new | recall new | P new | MAP new "
            "| NDCG ±95% all / new | users all / new |",
            "|---" * 11 + "|",
        ]
        lines += [_row(name, m) for name, m in shop["lists"].items()]
        recall = shop.get("candidate_recall", {})
        if recall.get("all"):
            lines += [
                "",
                "Candidate recall on the test (share of test pairs proposed), all / new items: "
                + ", ".join(f"{k} {v:.3f} / {recall['new'].get(k, 0.0):.3f}" for k, v in recall["all"].items()),
            ]
    return lines
