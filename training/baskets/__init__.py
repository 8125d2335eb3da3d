"""Frequently bought together: baskets from purchases, association measures, ranked complements per item."""
