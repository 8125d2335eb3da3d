"""BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way")."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from training.failures import TrainingError


class CLVFitError(TrainingError):
    exit_code = 3


@dataclass(frozen=True)
class BGNBDParams:
    r: float
    alpha: float
    a: float
    b: float

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def log_likelihood_terms(params: BGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood (equation 6 of the paper, in log space)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def log_likelihood(params: BGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:
    return float(np.sum(log_likelihood_terms(params, x, t_x, T)))


def fit(
    x: np.ndarray, t_x: np.ndarray, T: np.ndarray, start: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
) -> tuple[BGNBDParams, float]:
    """Maximum likelihood on log-parameters (keeps them positive), L-BFGS-B then a Nelder-Mead polish."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    if len(x) == 0:
        raise CLVFitError("BG/NBD needs at least one customer with a purchase")
    if np.any(t_x > T + 1e-9) or np.any(x < 0):
        raise CLVFitError("invalid summary: need 0 <= t_x <= T and x >= 0")
    if not np.any(x > 0):
        raise CLVFitError("BG/NBD needs at least one repeat purchase to estimate purchase and dropout rates")

    # Customers with the same (x, t_x, T) have the same likelihood: fit on the distinct triples,
    # weighted by their counts (exact, and far fewer rows on day-granular data).
    triples, counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    ux, ut_x, uT = triples.T

    def nll(theta: np.ndarray) -> float:
        value = -float(np.dot(counts, log_likelihood_terms(BGNBDParams(*np.exp(theta)), ux, ut_x, uT)))
        return value if np.isfinite(value) else 1e300

    bounds = [(-12.0, 12.0)] * 4
    res = minimize(nll, np.log(start), method="L-BFGS-B", bounds=bounds)
    res = minimize(nll, res.x, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-8, "maxiter": 4000})
    if not np.all(np.isfinite(res.x)):
        raise CLVFitError("BG/NBD fit did not converge")
    params = BGNBDParams(*np.exp(res.x))
    return params, -float(res.fun)


def p_alive(params: BGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(customer still active | history); 1 for customers without repeat purchases (a model property)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(x > 0, a / np.maximum(b + x - 1, 1e-300) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    return 1.0 / (1.0 + ratio)


def expected_purchases(params: BGNBDParams, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """E[transactions in (T, T + t] | x, t_x, T] (equation 10 of the paper)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    if abs(a - 1) < 1e-9:  # the closed form divides by a - 1
        a = 1 + 1e-9
    z = t / (alpha + T + t)
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
    num = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        den = 1 + np.where(x > 0, a / np.maximum(b + x - 1, 1e-300) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    return num / den
