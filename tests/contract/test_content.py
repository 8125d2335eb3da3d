"""The service's query vector matches the training job's TF-IDF, so new items are scored like published ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract import content
from training.merchandising.catalog import content_index


def test_service_side_vectors_match_scikit_learn_and_find_neighbours() -> None:
    catalog = pd.DataFrame(
        {
            "item_id": ["r1", "r2", "b1", "b2"],
            "title": ["crimson red shirt", "red shirt classic", "navy blue jeans", "blue jeans slim"],
            "category": ["shirts", "shirts", "jeans", "jeans"],
            "brand": ["Acme", "Acme", "Denim Co", "Denim Co"],
            "tags": ["cotton|red", "red", "denim", "denim|slim"],
            "in_catalog": True,
        }
    )
    index = content.decode_index(content_index(catalog))
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = [content.document(r.title, r.category, r.brand, r.tags.split("|")) for r in catalog.itertuples()]
    vec = TfidfVectorizer(analyzer=content.tokens, sublinear_tf=True).fit(docs)
    query = content.document("red red shirt", "shirts", "Acme", ["cotton", "unknownword"])
    expected = vec.transform([query]).toarray()[0]
    terms, weights = index.vector(query)
    got = np.zeros_like(expected)
    got[terms] = weights
    assert np.allclose(got, expected, atol=1e-6)
    ids, scores = index.similar(query, 3, skip=("r2",))
    assert ids[0] == "r1" and "r2" not in ids and scores == sorted(scores, reverse=True)
    assert index.similar("nothing known here", 3) == ([], [])
