from __future__ import annotations

from pathlib import Path

from training.data.loading import load_events, load_items
from training.datasets import online_retail

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
LINES = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
    "536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.00,17850.0,United Kingdom",
    "536366,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,2010-12-02 09:00:00,2.65,13047.0,United Kingdom",
    "536367,85123A,CREAM HANGING HEART T-LIGHT HOLDER,1,2010-12-03 09:00:00,2.75,13047.0,United Kingdom",
    "C536368,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-6,2010-12-03 10:00:00,2.55,17850.0,United Kingdom",
    "536369,22139,RETROSPOT TEA SET CERAMIC 11 PC ,3,2010-12-03 11:00:00,4.95,,United Kingdom",
    "536370,22140,BROKEN,5,2010-12-03 12:00:00,0.0,12583.0,France",
    "536371,gift_0001_20,Dotcomgiftshop Gift Voucher £20.00,1,2010-12-03 13:00:00,17.02,12583.0,France",
    "536372,BANK CHARGES,Bank Charges,1,2010-12-03 14:00:00,15.0,12583.0,France",
    "536373,DCGS0003,BOXED GLASS ASHTRAY,1,2010-12-03 15:00:00,2.5,12583.0,France",
    "536374,M,Manual,1,2010-12-03 16:00:00,1.0,12583.0,France",
]


def test_online_retail_converter_on_a_tiny_csv(tmp_path: Path) -> None:
    src = tmp_path / "online_retail.csv"
    src.write_text(HEADER + "\n".join(LINES) + "\n", encoding="utf-8")
    counts = online_retail.convert(src, tmp_path / "out")
    assert counts["dropped_cancellation"] == 1
    assert counts["dropped_guest"] == 1
    assert counts["dropped_bad_price"] == 1
    assert counts["dropped_non_product"] == 4  # POST, gift voucher, BANK CHARGES, M
    events, report = load_events(tmp_path / "out" / "events.csv")
    assert report.rows_kept == 5 and not report.skipped
    assert set(events.user_id) == {"17850", "13047", "12583"}  # '17850.0' -> '17850'
    assert set(events.item_id) == {"85123A", "71053", "DCGS0003"}
    assert set(events.event) == {"purchase"}
    first = events.iloc[0]
    assert first.order_id == "536365" and first.quantity == 6 and first.price == 2.55
    items, _ = load_items(tmp_path / "out" / "items.csv")
    heart = items.set_index("item_id").loc["85123A"]
    assert heart.title == "WHITE HANGING HEART T-LIGHT HOLDER"  # the most frequent description
    assert heart.price == 2.65  # median unit price
    assert set(items.category) == {"giftware"}  # keywords used by fewer than 5 items fall back


def test_product_codes_and_keywords() -> None:
    assert all(online_retail.is_product_code(c) for c in ("85123A", "15056BL", "21232", "DCGS0003", "47566b"))
    assert not any(
        online_retail.is_product_code(c) for c in ("POST", "DOT", "C2", "M", "m", "BANK CHARGES", "gift_0001_20", "S")
    )
    assert online_retail.product_keyword("WHITE HANGING HEART T-LIGHT HOLDER") == "HOLDER"
    assert online_retail.product_keyword("SET OF 3 CAKE TINS") == "TIN"
    assert online_retail.product_keyword("JUMBO BAG RED RETROSPOT") == "BAG"
    assert online_retail.product_keyword("PINK") == ""
