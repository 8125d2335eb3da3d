"""Customer lifetime value: BG/NBD (repeat purchases, P(alive)) and Gamma-Gamma (spend per transaction).

`lifetimes` is archived, so both models are written here from the papers' closed-form
log-likelihoods and fitted with scipy.
"""
