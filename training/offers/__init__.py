"""Segment-targeted offers: the catalog, the redemption model, budgeted allocation and the holdout."""
