"""Content-based: TF-IDF item vectors from catalog text, user profiles from their weighted history."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from training.models.base import Recommender, TrainingData


class ContentTFIDF(Recommender):
    """Cosine between a user's profile (weighted mean of item vectors) and every item vector.

    Items with no interactions are scored like any other, which is how new items get recommended.
    """

    name = "content"

    def __init__(self, max_features: int = 50_000, min_df: int = 1) -> None:
        self.max_features = max_features
        self.min_df = min_df

    def fit(self, data: TrainingData) -> ContentTFIDF:
        vectorizer = TfidfVectorizer(
            max_features=self.max_features, min_df=self.min_df, sublinear_tf=True, token_pattern=r"(?u)\b\w[\w-]*\b"
        )
        docs = [t if t.strip() else "__empty__" for t in data.item_text]
        self.item_vectors = normalize(vectorizer.fit_transform(docs).astype(np.float32)).tocsr()
        weights = data.history.copy()
        weights.data = np.log1p(weights.data)
        self.profiles = normalize(weights @ self.item_vectors).tocsr().astype(np.float32)
        self._vectors_t = self.item_vectors.T.tocsr()  # a product's right side as CSR: not converted per call
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray((self.profiles[users] @ self._vectors_t).todense(), dtype=np.float32)

    def item_similarity(self, items: np.ndarray) -> np.ndarray:
        return np.asarray((self.item_vectors[items] @ self._vectors_t).todense(), dtype=np.float32)
