from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, python_m
from training.clv import bgnbd, gamma_gamma
from training.clv.bgnbd import BGNBDParams, CLVFitError
from training.clv.gamma_gamma import GammaGammaParams
from training.clv.summary import daily_transactions, summarize

CDNOW = ROOT.parent / "shared" / "datasets" / "cdnow" / "CDNOW_sample.txt"
needs_cdnow = pytest.mark.skipif(not CDNOW.exists(), reason="CDNOW sample not beside the repository")


def _bgnbd_likelihood_direct(r, alpha, a, b, x, t_x, T) -> float:
    """Equation (6) of Fader, Hardie & Lee (2005) in plain probability space, with math.gamma."""
    beta = lambda p, q: math.gamma(p) * math.gamma(q) / math.gamma(p + q)  # noqa: E731
    common = beta(a, b + x) / beta(a, b) * math.gamma(r + x) / math.gamma(r) * alpha**r
    value = common / (alpha + T) ** (r + x)
    if x > 0:
        value += (
            beta(a + 1, b + x - 1)
            / beta(a, b)
            * math.gamma(r + x)
            / math.gamma(r)
            * alpha**r
            / (alpha + t_x) ** (r + x)
        )
    return value


def test_bgnbd_log_likelihood_matches_an_independent_computation() -> None:
    params = BGNBDParams(r=0.5, alpha=3.0, a=0.8, b=2.5)
    x = np.array([0, 1, 4, 7])
    t_x = np.array([0.0, 10.0, 20.5, 30.0])
    T = np.array([35.0, 30.0, 38.0, 31.0])
    expected = sum(math.log(_bgnbd_likelihood_direct(0.5, 3.0, 0.8, 2.5, *c)) for c in zip(x, t_x, T))
    assert bgnbd.log_likelihood(params, x, t_x, T) == pytest.approx(expected, rel=1e-10)


def test_p_alive_and_expected_purchases_behave() -> None:
    p = BGNBDParams(0.243, 4.414, 0.793, 2.426)
    # No repeat purchase: alive by construction. Same frequency, longer silence: less likely alive.
    alive = bgnbd.p_alive(p, np.array([0, 3, 3]), np.array([0.0, 30.0, 5.0]), np.array([39.0, 39.0, 39.0]))
    assert alive[0] == 1.0 and alive[1] > alive[2]
    e = [bgnbd.expected_purchases(p, t, np.array([2]), np.array([30.0]), np.array([39.0]))[0] for t in (1, 10, 52)]
    assert 0 < e[0] < e[1] < e[2]


def test_gamma_gamma_log_likelihood_hand_value() -> None:
    # One customer, x = 1, m = 10, p = q = v = 1: density of m = v^q / (x m + v)^(q+1) ... = 1/121 * ... (x=1)
    ll = gamma_gamma.log_likelihood(GammaGammaParams(1.0, 1.0, 1.0), np.array([1.0]), np.array([10.0]))
    # gammaln(2) - gammaln(1) - gammaln(1) + 0 + 0*ln10 + 0 - 2 ln(11)
    assert ll == pytest.approx(-2 * math.log(11.0))


def _cdnow_summary() -> pd.DataFrame:
    from training.datasets.cdnow import read

    raw = read(CDNOW)
    tx = daily_transactions(raw, "customer", "date", "value")
    return summarize(tx, pd.Timestamp("1997-09-30", tz="UTC"), "week")


@needs_cdnow
def test_cdnow_fits_reproduce_the_papers() -> None:
    s = _cdnow_summary()
    assert len(s) == 2357 and int((s.x > 0).sum()) == 946
    params, ll = bgnbd.fit(s.x, s.t_x, s["T"])
    for got, want in zip((params.r, params.alpha, params.a, params.b), (0.243, 4.414, 0.793, 2.426)):
        assert got == pytest.approx(want, rel=0.01)
    assert ll == pytest.approx(-9582.4, abs=1.0)
    gg, _ = gamma_gamma.fit(s.x, s.m_x)
    for got, want in zip((gg.p, gg.q, gg.v), (6.25, 3.74, 15.44)):
        assert got == pytest.approx(want, rel=0.01)


@needs_cdnow
def test_clv_cli_on_cdnow(tmp_path: Path) -> None:
    run = python_m
    assert run("training", "datasets", "cdnow", "--src", str(CDNOW), "--out", str(tmp_path / "cd")).returncode == 0
    res = run(
        "training",
        "clv",
        "--events",
        str(tmp_path / "cd/events.csv"),
        "--calibration-end",
        "1997-09-30",
        "--holdout-end",
        "1998-06-30",
        "--output",
        str(tmp_path / "clv.json"),
    )
    assert res.returncode == 0, res.stderr
    out = json.loads((tmp_path / "clv.json").read_text())
    assert set(out) >= {"bgnbd", "gamma_gamma", "customers", "holdout"}
    assert out["customers"] == 2357 and out["bgnbd"]["r"] == pytest.approx(0.243, rel=0.01)
    assert out["holdout"]["actual_repeat_transactions"] > 0 and out["holdout"]["predicted_repeat_transactions"] > 0
    bad = run(
        "training",
        "clv",
        "--events",
        str(tmp_path / "cd/events.csv"),
        "--calibration-end",
        "1990-01-01",
        "--output",
        str(tmp_path / "x.json"),
    )
    assert bad.returncode != 0 and "no purchases on or before" in bad.stderr


def test_bad_inputs_give_clear_errors() -> None:
    with pytest.raises(CLVFitError, match="at least one repeat purchase"):
        bgnbd.fit(np.array([0.0, 0.0]), np.array([0.0, 0.0]), np.array([5.0, 3.0]))
    with pytest.raises(CLVFitError, match="at least one customer"):
        bgnbd.fit(np.array([]), np.array([]), np.array([]))
    with pytest.raises(CLVFitError, match="positive spend"):
        gamma_gamma.fit(np.array([2.0, 1.0]), np.array([0.0, 5.0]))
    with pytest.raises(CLVFitError, match="repeat buyers"):
        gamma_gamma.fit(np.array([0.0]), np.array([0.0]))


def test_summary_counts_same_day_purchases_once() -> None:
    t = pd.Timestamp("2024-01-01", tz="UTC")
    p = pd.DataFrame(
        {
            "c": ["a", "a", "a", "b"],
            "when": [t, t + pd.Timedelta(hours=3), t + pd.Timedelta(days=14), t],
            "v": [10.0, 5.0, 20.0, 7.0],
        }
    )
    s = summarize(daily_transactions(p, "c", "when", "v"), t + pd.Timedelta(days=21), "week")
    assert s.loc["a", "x"] == 1 and s.loc["a", "t_x"] == pytest.approx(2.0) and s.loc["a", "T"] == pytest.approx(3.0)
    assert s.loc["a", "m_x"] == 20.0 and s.loc["b", "x"] == 0
