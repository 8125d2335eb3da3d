"""Content similarity shared by the training job (which builds the index) and the service (which queries it).

The training job fits TF-IDF (scikit-learn, `sublinear_tf`, smoothed idf, l2 rows) over one short text per
item (title, category, brand, tags) with `tokens` as its analyzer, and publishes the index inverted: per
term, the items holding it and their weights. The service turns a new item's text into a vector the same
way (`ContentIndex.vector`: 1 + ln(tf) times the published idf, l2-normalised; unknown terms count
for nothing) and scores the catalog by walking only the postings of the item's few terms: a new item
gets similar items at once, with numpy alone and no per-request work proportional to the catalog.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgpack
import numpy as np

_TOKEN = re.compile(r"(?u)\b\w[\w-]*\b")


_NON_WORD = re.compile(r"\W+")


def _word(prefix: str, value: str) -> str:
    value = _NON_WORD.sub("_", value.strip().lower())
    return f"{prefix}_{value}" if value else ""


def document(title: str, category: str, brand: str = "", tags: Iterable[str] = ()) -> str:
    """The text an item is indexed by: its title and tags, and its category and brand as one word each."""
    return " ".join(p for p in (title, _word("cat", category), _word("brand", brand), " ".join(tags)) if p)


def tokens(text: str) -> list[str]:
    """Lower-cased words (hyphens kept inside a word), as the index and its queries split text."""
    return _TOKEN.findall(text.lower())


@dataclass
class ContentIndex:
    items: list[str]
    vocabulary: dict[str, int]
    idf: np.ndarray  # float32 per term
    indptr: np.ndarray  # int32, per term: its postings are postings[indptr[t]:indptr[t + 1]]
    postings: np.ndarray  # int32 item positions
    weights: np.ndarray  # float32 weight of the term in that item's l2-normalised vector

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(term ids, weights) of a text, l2-normalised; empty when no word is known to the index."""
        counts = Counter(t for t in tokens(text) if t in self.vocabulary)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        terms = np.array([self.vocabulary[t] for t in counts], dtype=np.int64)
        w = (1.0 + np.log(np.array(list(counts.values()), dtype=np.float64))) * self.idf[terms]
        return terms, (w / np.linalg.norm(w)).astype(np.float32)

    def similar(self, text: str, n: int, skip: Iterable[str] = ()) -> tuple[list[str], list[float]]:
        """The n items whose text is closest (cosine) to `text`, best first, without `skip`."""
        terms, w = self.vector(text)
        if not len(terms):
            return [], []
        spans = [(int(self.indptr[t]), int(self.indptr[t + 1])) for t in terms]
        idx = np.concatenate([self.postings[a:b] for a, b in spans])
        contrib = np.concatenate([self.weights[a:b] * wt for (a, b), wt in zip(spans, w)])
        touched, inverse = np.unique(idx, return_inverse=True)
        scores = np.bincount(inverse, weights=contrib)
        skip = set(skip)
        order = np.argsort(-scores, kind="stable")
        ids: list[str] = []
        out: list[float] = []
        for k in order:
            item = self.items[touched[k]]
            if item in skip:
                continue
            ids.append(item)
            out.append(round(float(scores[k]), 4))
            if len(ids) == n:
                break
        return ids, out


def encode_index(
    items: Sequence[str],
    vocabulary: dict[str, int],
    idf: np.ndarray,
    indptr: np.ndarray,
    postings: np.ndarray,
    weights: np.ndarray,
) -> bytes:
    """The index as msgpack with the arrays as raw little-endian bytes (one numpy call each to decode)."""
    terms = sorted(vocabulary, key=vocabulary.__getitem__)
    return msgpack.packb(
        {
            "items": list(items),
            "terms": terms,
            "idf": np.asarray(idf, dtype="<f4").tobytes(),
            "indptr": np.asarray(indptr, dtype="<i4").tobytes(),
            "postings": np.asarray(postings, dtype="<i4").tobytes(),
            "weights": np.asarray(weights, dtype="<f4").tobytes(),
        },
        use_bin_type=True,
    )


def decode_index(blob: bytes) -> ContentIndex:
    raw = msgpack.unpackb(blob, raw=False)
    return ContentIndex(
        items=raw["items"],
        vocabulary={t: k for k, t in enumerate(raw["terms"])},
        idf=np.frombuffer(raw["idf"], dtype="<f4"),
        indptr=np.frombuffer(raw["indptr"], dtype="<i4"),
        postings=np.frombuffer(raw["postings"], dtype="<i4"),
        weights=np.frombuffer(raw["weights"], dtype="<f4"),
    )
