"""The statistics of the analysis, in one place: means over seeds, Welch's t-test, Spearman's rho,
Kendall's tau and its percentile bootstrap interval, the log-log fit of the gradient spread.

Every table, verdict and finding computes these through this module, so a change of convention
(ddof, how a group of one seed is treated) is made once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _scipy


def mean_std(values: pd.Series) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof 1; NaN with one value) and count of the non-missing
    values (NaN mean with none)."""
    v = values.dropna().astype(float)
    std = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
    return float(v.mean()) if len(v) else float("nan"), std, len(v)


def welch(a, b) -> tuple[float, float]:
    """Welch's t statistic and two-sided p-value of mean(a) - mean(b); NaN when n < 2."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return float("nan"), float("nan")
    t, p = _scipy.ttest_ind(a, b, equal_var=False)
    return float(t), float(p)


def welch_p(a: pd.Series, b: pd.Series) -> float:
    """The p-value of `welch` on the non-missing values; NaN also when neither group varies (no
    test: e.g. every seed gave the same accuracy)."""
    a, b = a.dropna().astype(float), b.dropna().astype(float)
    if len(a) < 2 or len(b) < 2 or (a.std(ddof=1) == 0 and b.std(ddof=1) == 0):
        return float("nan")
    return welch(a, b)[1]


def spearman(x, y) -> float:
    """Spearman's rank correlation of x and y; NaN with fewer than three points."""
    if len(x) <= 2:
        return float("nan")
    return float(_scipy.spearmanr(x, y).statistic)


def fit_loglog(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least-squares line through (log10 x, log10 y): (slope, intercept). Expected slope of the
    spread vs m: -1/2."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return math.nan, math.nan
    slope, intercept = np.polyfit(np.log10(x[ok]), np.log10(y[ok]), 1)
    return float(slope), float(intercept)


def _finite_pairs(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def kendall(x, y) -> float:
    """Kendall's tau-b of x and y over the pairs where both are finite (SciPy's `kendalltau`,
    ties counted as tau-b does); NaN with fewer than two such pairs or when either side is
    constant (no ranking to compare)."""
    x, y = _finite_pairs(x, y)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(_scipy.kendalltau(x, y).statistic)


def bootstrap_ci(x, y, statistic=kendall, n_resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(x, y)`: the finite (x, y) pairs resampled with
    replacement `n_resamples` times from `numpy.random.default_rng(seed)` (deterministic: the same
    inputs, resamples and seed give the same interval), the (1 - level)/2 and (1 + level)/2
    quantiles of the resampled statistics. Resamples whose statistic is undefined (e.g. a constant
    side) are left out; (NaN, NaN) with fewer than two pairs or no defined resample."""
    x, y = _finite_pairs(x, y)
    if len(x) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(int(n_resamples), len(x)))
    values = np.array([statistic(x[i], y[i]) for i in idx], dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return math.nan, math.nan
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
