"""Gamma-Gamma model of spend per transaction (Fader & Hardie 2013 note; Colombo & Jiang 1999)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

from training.clv.bgnbd import CLVFitError


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    v: float

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def log_likelihood(params: GammaGammaParams, x: np.ndarray, m_x: np.ndarray) -> float:
    """Sum over repeat buyers (x > 0) of the log-likelihood of their mean repeat spend m_x."""
    p, q, v = params.p, params.q, params.v
    x = np.asarray(x, dtype=float)
    m = np.asarray(m_x, dtype=float)
    ll = (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )
    return float(np.sum(ll))


def fit(
    x: np.ndarray, m_x: np.ndarray, start: tuple[float, float, float] = (1.0, 1.0, 1.0)
) -> tuple[GammaGammaParams, float]:
    x = np.asarray(x, dtype=float)
    m = np.asarray(m_x, dtype=float)
    keep = x > 0
    if not keep.any():
        raise CLVFitError("Gamma-Gamma needs repeat buyers (customers with at least two purchase days)")
    if np.any(m[keep] <= 0):
        raise CLVFitError("Gamma-Gamma needs positive spend: some repeat buyers have zero or negative average value")
    x, m = x[keep], m[keep]

    def nll(theta: np.ndarray) -> float:
        value = -log_likelihood(GammaGammaParams(*np.exp(theta)), x, m)
        return value if np.isfinite(value) else 1e300

    res = minimize(nll, np.log(start), method="L-BFGS-B", bounds=[(-12.0, 12.0)] * 3)
    res = minimize(nll, res.x, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-8, "maxiter": 4000})
    return GammaGammaParams(*np.exp(res.x)), -float(res.fun)


def expected_spend(
    params: GammaGammaParams, x: np.ndarray, m_x: np.ndarray, population_mean: float | None = None
) -> np.ndarray:
    """E[spend per transaction | x, m_x]; customers without repeat purchases get the population mean."""
    p, q, v = params.p, params.q, params.v
    x = np.asarray(x, dtype=float)
    m = np.asarray(m_x, dtype=float)
    prior = population_mean if population_mean is not None else (p * v / (q - 1) if q > 1 else np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = (p * (v + x * m)) / (p * x + q - 1)
    return np.where(x > 0, cond, prior)
