"""Published reason codes worded for an answer: item id -> text, looked up lazily for the items shown."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from contract.reasons import reason_text
from recsvc.store import Catalog


class ReasonTexts(Mapping):
    """`codes` (item id -> reason code) as texts, with the anchor items' titles from `catalog`."""

    def __init__(self, codes: Mapping[str, str], catalog: Catalog) -> None:
        self.codes = codes
        self.catalog = catalog

    def _title(self, item_id: str) -> str | None:
        entry = self.catalog.items.get(item_id)
        return entry[0] if entry else None

    def __getitem__(self, item_id: str) -> str:
        return reason_text(self.codes[item_id], self._title)

    def __iter__(self) -> Iterator[str]:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)
