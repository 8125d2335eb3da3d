"""The statistics against textbook values and an independent implementation (scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from reporting import stats


def test_two_proportion_z_test_by_hand() -> None:
    # 45/100 vs 35/100: pooled p = 0.4, se = sqrt(0.4 * 0.6 * 0.02) = 0.069282, z = 1.4434
    out = stats.two_proportion_test(45, 100, 35, 100)
    assert out["z"] == pytest.approx(0.1 / math.sqrt(0.4 * 0.6 * 0.02), rel=1e-9)
    assert out["p_value"] == pytest.approx(0.14891, abs=1e-4)
    se = math.sqrt(0.45 * 0.55 / 100 + 0.35 * 0.65 / 100)
    assert out["ci95"] == pytest.approx([0.1 - 1.959964 * se, 0.1 + 1.959964 * se], rel=1e-6)


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(10, 2, 80), rng.normal(11, 5, 50)
    ours = stats.welch_test(b.mean(), b.var(ddof=1), len(b), a.mean(), a.var(ddof=1), len(a))
    ref = sps.ttest_ind(b, a, equal_var=False)
    assert ours["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert ours["t"] == pytest.approx(ref.statistic, rel=1e-9)
    m, v = stats.mean_var(float(a.sum()), float((a * a).sum()), len(a))
    assert m == pytest.approx(a.mean()) and v == pytest.approx(a.var(ddof=1))


def test_wilson_interval_textbook() -> None:
    # Wilson 95% interval for 0 of 10 is [0, 0.2775]; for 5 of 10 it is [0.2366, 0.7634]
    assert stats.proportion_ci(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    low, high = stats.proportion_ci(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)


def test_sample_sizes() -> None:
    # 0.05 vs 0.06, alpha 0.05 two-sided, power 0.8, no continuity correction, by hand:
    # (1.95996 * sqrt(2 * 0.055 * 0.945) + 0.84162 * sqrt(0.0475 + 0.0564))^2 / 0.01^2
    # = (0.63191 + 0.27129)^2 / 0.0001 = 8157.7 -> 8158 per group
    assert stats.sample_size_two_proportions(0.05, 0.06) == 8158
    # means: (1.96 + 0.8416)^2 * (1 + 1) / 0.5^2 = 62.8 -> 63
    assert stats.sample_size_means(0.5, 1.0, 1.0) == 63
    assert stats.sample_size_two_proportions(0.1, 0.1) is None


def test_sample_ratio_mismatch() -> None:
    out = stats.sample_ratio_mismatch([5000, 5200], [50, 50])
    assert out["chi2"] == pytest.approx(2 * 100**2 / 5100) and out["p_value"] == pytest.approx(0.04767, abs=1e-4)
    assert not out["mismatch"]
    assert stats.sample_ratio_mismatch([5000, 5600], [50, 50])["mismatch"]
