"""Candidate sources for the ranking stage, each behind `base.CandidateSource` (fit, candidates, score_pairs)."""
