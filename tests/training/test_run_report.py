from __future__ import annotations

import re
from pathlib import Path

from training.run_report import write_report


def test_html_report_has_segment_clv_and_offer_figures(run_result, tmp_path: Path) -> None:
    paths = write_report(run_result.report, tmp_path)
    page = Path(paths["html"]).read_text(encoding="utf-8")
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert page.count("<svg") == len(captions)
    for expected in (
        "ndcg@10 per model on the time holdout",
        "rfm segments: size",
        "lifecycle segments: mean expected value over 365 days",
        "Distribution of P(alive)",
        "Expected spend (bars) against budget (black marks)",
    ):
        assert expected in captions, captions
    # The Markdown is rendered (tables included) and nothing is loaded from elsewhere.
    assert "<h2>Customers</h2>" in page and "<table>" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_html_report_without_evaluation_or_customers(tmp_path: Path) -> None:
    report = {"inputs": {}, "timings_seconds": {"load": 0.1}}
    page = Path(write_report(report, tmp_path)["html"]).read_text(encoding="utf-8")
    assert "No figures" in page and "<svg" not in page
