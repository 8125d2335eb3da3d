"""UCI Online Retail (`online_retail.csv`) -> the event contract, with an `order_id` column.

Cleaning, in this order (counts per rule are returned so a run can be checked):

- `cancellation`: InvoiceNo starting with `C` (the credit notes of returned or cancelled lines);
- `guest`: no CustomerID (135k lines: the shop cannot personalise for them);
- `bad_quantity` / `bad_price`: quantity <= 0 (stock adjustments) or unit price <= 0 (free samples,
  write-offs), or unparseable numbers and dates;
- `non_product`: StockCodes that are not articles. The shop's articles are numbered: five digits
  with an optional letter/digit variant suffix (`85123A`, `15056BL`), or a letter prefix followed by
  at least four digits (`DCGS0003`). Everything else is a service or accounting line: POST, DOT
  (postage), C2 (carriage), M/m (manual), D (discount), S (samples), B (bad debt), BANK CHARGES,
  AMAZONFEE, CRUK (charity commission), PADS, the `gift_0001_*` vouchers and the two DCGSS party-bag
  codes (24 lines) that fall outside the pattern.

CustomerID `17850.0` becomes `17850`. Every kept line is one `purchase` event with its quantity and
unit price; `order_id` is the InvoiceNo (the contract's optional basket id, used for co-purchase).

The catalog has no category. `category` is the most frequent product keyword of the item's title:
the last word of the description that is not a colour, size or filler word, singular (`HOLDER` for
"WHITE HANGING HEART T-LIGHT HOLDER", `MUG`, `BAG`, `CANDLE` for "... CANDLES"). It is a product type guessed from the title, not
a real taxonomy; keywords used by fewer than `MIN_CATEGORY_ITEMS` items fall back to `giftware`
(the shop's one real category). `title` is the item's most frequent description, `price` its median
unit price over the kept lines.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from training.data import columns as C
from training.failures import InputFileError

ORDER_ID = "order_id"
PRODUCT_CODE = re.compile(r"^(\d{5}[A-Za-z0-9]*|[A-Za-z]+\d{4,}[A-Za-z]*)$")
MIN_CATEGORY_ITEMS = 5
FALLBACK_CATEGORY = "giftware"
# Words that describe a variant rather than the kind of product.
_NOT_A_TYPE = {
    "WHITE", "BLACK", "RED", "BLUE", "PINK", "GREEN", "IVORY", "CREAM", "GOLD", "SILVER", "PURPLE",
    "ORANGE", "YELLOW", "BROWN", "GREY", "CLEAR", "SMALL", "LARGE", "MEDIUM", "MINI", "JUMBO", "SET",
    "OF", "AND", "THE", "IN", "WITH", "DESIGN", "ASSORTED", "VINTAGE", "RETROSPOT", "S/4", "S/3", "S/2",
    "S/6", "12", "10", "6", "4", "3", "2",
}  # fmt: skip
REQUIRED = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")


def is_product_code(code: str) -> bool:
    """True for the shop's article numbers, False for postage, fees, vouchers and adjustments."""
    return bool(PRODUCT_CODE.match(code.strip()))


def product_keyword(title: str) -> str:
    """The last word of a title that names a kind of product ('' when none)."""
    words = [w for w in re.split(r"[\s,.+&]+", title.upper()) if w]
    for word in reversed(words):
        if word not in _NOT_A_TYPE and re.search(r"[A-Z]", word) and len(word) > 2:
            # plural and singular are one type (CANDLES, CANDLE); GLASS and DRESS stay as they are
            return word[:-1] if word.endswith("S") and not word.endswith("SS") and len(word) > 3 else word
    return ""


def clean(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Kept transaction lines (typed) and the number of lines dropped per rule."""
    dropped: dict[str, int] = {}
    frame = raw.copy()
    for col in REQUIRED:
        if col not in frame.columns:
            raise InputFileError("online_retail.csv", "required column is missing", column=col)
    frame["InvoiceNo"] = frame["InvoiceNo"].fillna("").astype(str).str.strip()
    frame["StockCode"] = frame["StockCode"].fillna("").astype(str).str.strip()

    def drop(mask: pd.Series, reason: str) -> None:
        nonlocal frame
        dropped[reason] = int(mask.sum())
        frame = frame.loc[~mask]

    drop(frame["InvoiceNo"].str.upper().str.startswith("C"), "cancellation")
    customer = pd.to_numeric(frame["CustomerID"], errors="coerce")
    drop(customer.isna(), "guest")
    frame["CustomerID"] = customer.loc[frame.index].astype("int64").astype(str)
    qty = pd.to_numeric(frame["Quantity"], errors="coerce")
    drop(~(qty > 0), "bad_quantity")
    price = pd.to_numeric(frame["UnitPrice"], errors="coerce").loc[frame.index]
    drop(~(price > 0), "bad_price")
    when = pd.to_datetime(frame["InvoiceDate"], errors="coerce", format="%Y-%m-%d %H:%M:%S")
    drop(when.isna(), "bad_timestamp")
    drop(~frame["StockCode"].map(is_product_code), "non_product")
    frame = frame.assign(
        Quantity=pd.to_numeric(frame["Quantity"]),
        UnitPrice=pd.to_numeric(frame["UnitPrice"]),
        InvoiceDate=pd.to_datetime(frame["InvoiceDate"], format="%Y-%m-%d %H:%M:%S"),
        Description=frame["Description"].fillna("").astype(str).str.strip(),
    )
    return frame, dropped


def catalog(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per StockCode: most frequent description, keyword category, median unit price."""
    described = lines[lines["Description"] != ""]
    counts = described.groupby(["StockCode", "Description"], sort=True).size().rename("n").reset_index()
    counts = counts.sort_values(["StockCode", "n", "Description"], ascending=[True, False, True], kind="stable")
    titles = counts.drop_duplicates("StockCode").set_index("StockCode")["Description"]
    codes = pd.Index(sorted(lines["StockCode"].unique()), name="StockCode")
    titles = titles.reindex(codes).fillna("")
    keyword = titles.map(product_keyword)
    size = keyword.map(keyword.value_counts())
    category = keyword.str.lower().where((keyword != "") & (size >= MIN_CATEGORY_ITEMS), FALLBACK_CATEGORY)
    price = lines.groupby("StockCode")["UnitPrice"].median().reindex(codes)
    return pd.DataFrame(
        {
            C.ITEM_ID: codes.to_numpy(),
            C.TITLE: titles.to_numpy(),
            C.CATEGORY: category.to_numpy(),
            C.PRICE: price.round(2).to_numpy(),
        }
    )


def convert(src: str | Path, out: str | Path) -> dict[str, int]:
    """Write events.csv (with order_id) and items.csv into `out`; returns counts of kept and dropped lines."""
    src, out = Path(src), Path(out)
    if not src.is_file():
        raise InputFileError(src, "file not found (expected online_retail.csv)")
    raw = pd.read_csv(
        src, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8", encoding_errors="replace"
    )
    lines, dropped = clean(raw)
    events = pd.DataFrame(
        {
            C.USER_ID: lines["CustomerID"].to_numpy(),
            C.ITEM_ID: lines["StockCode"].to_numpy(),
            C.EVENT: C.PURCHASE,
            C.TIMESTAMP: lines["InvoiceDate"].dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(),
            C.QUANTITY: lines["Quantity"].to_numpy(),
            C.PRICE: lines["UnitPrice"].to_numpy(),
            ORDER_ID: lines["InvoiceNo"].to_numpy(),
        }
    )
    items = catalog(lines)
    out.mkdir(parents=True, exist_ok=True)
    events.to_csv(out / "events.csv", index=False)
    items.to_csv(out / "items.csv", index=False)
    return {
        "lines": len(raw),
        "events": len(events),
        "items": len(items),
        "users": int(events[C.USER_ID].nunique()),
        "orders": int(events[ORDER_ID].nunique()),
    } | {f"dropped_{k}": v for k, v in dropped.items()}
