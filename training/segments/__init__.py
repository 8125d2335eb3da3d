"""Customer segments: RFM groups, behavioural clusters and lifecycle stages (with CLV in training.clv)."""
