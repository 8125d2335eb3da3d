"""The merchandising section of the training report (Markdown)."""

from __future__ import annotations


def markdown_lines(section: dict) -> list[str]:
    lines = ["", "## Merchandising", ""]
    fbt = section.get("bought_together")
    if fbt:
        b, t = fbt["baskets"], fbt["thresholds"]
        lines += [
            f"Frequently bought together: {b['count']} baskets ({b['by_order_id']} by order id, {b['by_session']} by "
            f"session of {b['session_gap_minutes']:g} minutes; {b['multi_item']} with two or more items). Pairs kept: "
            f"{fbt['kept_pairs']} of {fbt['co_occurring_pairs']} co-occurring (at least {t['min_support_baskets']} "
            f"baskets together and lift >= {t['min_lift']}); {fbt['items_with_list']} items have a list. Ranked by "
            f"{fbt['score']}, beta {fbt['beta']}, half-life {fbt['half_life_days'] or 'none'} (chosen on the "
            f"{fbt['validation']['split']}).",
        ]
        if fbt["top_rules_by_lift"]:
            lines += ["", "| item | bought with | baskets | support | confidence | lift |", "|---|---|---|---|---|---|"]
            lines += [
                f"| {r['item']} | {r['with']} | {r['baskets']} | {r['support']:.4%} | {r['confidence']:.2%} | "
                f"{r['lift']:.1f} |"
                for r in fbt["top_rules_by_lift"]
            ]
    rules = section.get("rules")
    if rules:
        lines += ["", f"Business rules: {rules['active']} active of {rules['total']} from {rules['source']}."]
    margin = section.get("margin")
    if margin:
        lines += [
            "",
            f"Margin-aware ranking on the test holdout ({margin['users']} users; expected margin = position-weighted "
            "mean margin of the top 10, realised = margin of the held-out items hit):",
            "",
            "| margin weight | NDCG@10 | NDCG cost | expected margin@10 | realised margin@10 |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['weight']:g} | {r['ndcg@10']:.4f} | {r['ndcg_cost']:+.2%} | {r['expected_margin@10']:.2f} | "
            f"{r['realised_margin@10']:.2f} |"
            for r in margin["by_weight"]
        ]
    return lines
