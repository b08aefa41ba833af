"""The report's per-figure lines are computed from the figure's data: exact on known curves, and
they change when the data change."""

import numpy as np
import pandas as pd
import pytest

from sharpminima.analysis import findings


def test_second_difference_is_exact_on_quadratics_with_unequal_spacing():
    a = np.array([-0.3, -0.1, 0.0, 0.25, 0.9, 1.0, 1.4])
    f = 1.5 * a ** 2 - 2.0 * a + 7.0  # f'' = 3 everywhere
    assert findings.second_difference(a, f, 0.0) == pytest.approx(3.0, rel=1e-12)
    assert findings.second_difference(a, f, 1.0) == pytest.approx(3.0, rel=1e-12)
    # the grid is sorted first: order of rows does not matter
    assert findings.second_difference(a[::-1], f[::-1], 1.0) == pytest.approx(3.0, rel=1e-12)


def path_frame(k_sb: float, k_lb: float) -> pd.DataFrame:
    """A path whose training loss is k_sb a^2 / 2 near x_SB and k_lb (a - 1)^2 / 2 near x_LB."""
    alphas = np.linspace(-1.0, 2.0, 25)  # the paper's grid: step 0.125, 0 and 1 on it
    loss = np.where(alphas < 0.5, 0.5 * k_sb * alphas ** 2,
                    0.5 * k_lb * (alphas - 1) ** 2 + 0.125 * (k_sb - k_lb))
    rows = [{"net": "F1", "alpha": a, "split": s, "loss": v + (s == "test"), "accuracy": 0.9}
            for a, v in zip(alphas, loss) for s in ("train", "test")]
    return pd.DataFrame(rows)


def test_parametric_line_reads_the_curvatures_and_follows_the_data():
    line = findings.parametric(path_frame(k_sb=2.0, k_lb=50.0))
    assert "2 at x_SB vs 50 at x_LB (LB/SB 25: LB's basin is narrower" in line
    flipped = findings.parametric(path_frame(k_sb=50.0, k_lb=2.0))
    assert "(LB/SB 0.04: LB's basin is not narrower" in flipped
    concave = findings.parametric(path_frame(k_sb=-2.0, k_lb=50.0))
    assert "-2 at x_SB" in concave and "not convex at both ends" in concave


def history(lb_test):
    rows = []
    for regime, accs in (("SB", [0.80, 0.90, 0.88]), ("LB", lb_test)):
        for seed in (0, 1):
            for epoch, acc in enumerate(accs, 1):
                rows += [{"net": "C1", "regime": regime, "seed": seed, "epoch": epoch,
                          "split": split, "accuracy": acc, "loss": 1.0}
                         for split in ("train", "test")]
    return pd.DataFrame(rows)


def test_training_curve_line_says_whether_early_stopping_closes_the_gap():
    line = findings.training_curves(history([0.70, 0.75, 0.74]))
    assert "final test acc SB 88.00%, LB 74.00%" in line
    assert "SB 2.00, LB 1.00 pts, which would not close the gap" in line
    assert "which would close the gap" in findings.training_curves(history([0.70, 0.95, 0.74]))
    assert "no gap to close" in findings.training_curves(history([0.90, 0.90, 0.90]))


def test_noise_lines():
    spread = pd.DataFrame([{"net": "F1", "regime": r, "seed": 0, "epoch": e, "m": m,
                            "fit_slope": s} for r, e, s in (("SB", 0, -0.5), ("LB", 3, -0.4))
                           for m in (8, 16)])
    line = findings.noise_spread(spread)
    assert "mean -0.450 (range -0.500 to -0.400" in line and "F1 LB epoch 3: -0.400" in line
    assert "corrected" not in line
    corrected = findings.noise_spread(spread.assign(fit_slope_fpc=[-0.52, -0.52, -0.48, -0.48]))
    assert corrected.endswith("finite-population corrected: mean -0.500")
    scale = pd.DataFrame([{"net": "F1", "regime": "SB", "seed": s, "epoch": e, "b_simple": b + s}
                          for s in (0, 1) for e, b in ((1, 10.0), (5, 100.0))])
    assert findings.noise_scale(scale) == "F1 SB: B_simple 10.5 (epoch 1) -> 100 (epoch 5)"


def test_slice_line_measures_the_rise_above_the_centre():
    xs = np.linspace(-1, 1, 3)
    rows = [{"net": "F1", "regime": r, "x": x, "y": y, "split": "train",
             "loss": 1.0 + k * (x * x + y * y)} for r, k in (("SB", 1.0), ("LB", 9.0))
            for x in xs for y in xs]
    mean_r2 = np.mean([x * x + y * y for x in xs for y in xs])
    line = findings.slices(pd.DataFrame(rows))
    assert line == f"F1: mean loss rise over the slice SB {mean_r2:.3g}, LB {9 * mean_r2:.3g}"


def test_empty_data_says_so():
    assert findings.finding("fig3", pd.DataFrame()) == "no data"
