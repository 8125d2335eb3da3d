"""Statistics for comparing a treatment with a control (offers' holdouts, experiments).

scipy.stats is imported inside the functions that need it: importing it takes 0.9 s, and a service
worker only needs it once somebody asks for a report.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def proportion_ci(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (behaves at 0 and n, unlike the normal approximation)."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_test(x1: int, n1: int, x2: int, n2: int) -> dict:
    """Difference p1 - p2 with a 95% (unpooled) interval and the pooled two-sided z-test p-value."""
    from scipy import stats

    if n1 == 0 or n2 == 0:
        return {"difference": None, "ci95": None, "p_value": None}
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    z = (p1 - p2) / se_pooled if se_pooled > 0 else 0.0
    return {
        "difference": p1 - p2,
        "ci95": [p1 - p2 - Z95 * se, p1 - p2 + Z95 * se],
        "p_value": float(2 * stats.norm.sf(abs(z))),
        "z": z,
    }


def welch_test(mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int) -> dict:
    """Difference of means with Welch's t-test and its 95% interval (Welch-Satterthwaite df)."""
    from scipy import stats

    if n1 < 2 or n2 < 2 or not all(map(math.isfinite, (mean1, var1, mean2, var2))):
        return {"difference": None, "ci95": None, "p_value": None}
    a, b = var1 / n1, var2 / n2
    if not math.isfinite(a + b):  # variances too large to compare: no test rather than an overflow
        return {"difference": None, "ci95": None, "p_value": None}
    se = math.sqrt(a + b)
    diff = mean1 - mean2
    if se == 0:
        return {"difference": diff, "ci95": [diff, diff], "p_value": 1.0 if diff == 0 else 0.0}
    df = (a + b) ** 2 / ((a * a / (n1 - 1)) + (b * b / (n2 - 1))) if (a + b) > 0 else n1 + n2 - 2
    t = diff / se
    q = float(stats.t.ppf(0.975, df))
    return {
        "difference": diff,
        "ci95": [diff - q * se, diff + q * se],
        "p_value": float(2 * stats.t.sf(abs(t), df)),
        "t": t,
        "df": df,
    }


def mean_var(total: float, total_sq: float, n: int) -> tuple[float, float]:
    """Mean and sample variance from a sum and a sum of squares (zeros included in n)."""
    if n == 0:
        return 0.0, 0.0
    mean = total / n
    var = max(0.0, (total_sq - n * mean * mean) / (n - 1)) if n > 1 else 0.0
    # Sums of huge stored values: a variance that overflowed is unknown (inf), never NaN or an exception.
    return mean, var if math.isfinite(var) else math.inf


def sample_size_two_proportions(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Per-group sample size to detect p1 vs p2 with a two-sided test (normal approximation)."""
    from scipy import stats

    if p1 == p2 or not (0 < p1 < 1 and 0 < p2 < 1):
        return None
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    pbar = (p1 + p2) / 2
    n = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p1 - p2) ** 2
    return int(math.ceil(n))


def sample_size_means(diff: float, sd1: float, sd2: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Per-group sample size to detect a difference of means `diff` (normal approximation)."""
    from scipy import stats

    if diff == 0 or (sd1 == 0 and sd2 == 0):
        return None
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    return int(math.ceil((za + zb) ** 2 * (sd1**2 + sd2**2) / diff**2))


def sample_ratio_mismatch(observed: list[int], traffic_pct: list[float]) -> dict:
    """Chi-square goodness of fit of assignment counts to the planned split; SRM when p < 0.001."""
    from scipy import stats

    total = sum(observed)
    if total == 0:
        return {"chi2": None, "p_value": None, "mismatch": False}
    expected = [total * t / 100.0 for t in traffic_pct]
    chi2, p = stats.chisquare(observed, expected)
    return {"chi2": float(chi2), "p_value": float(p), "mismatch": bool(p < 0.001)}
