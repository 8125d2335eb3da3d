"""Recommenders behind one small interface (`fit`, `score`, `recommend`, `similar_items`)."""
