"""The correlation study and the reparametrization test: Kendall's tau, its bootstrap interval, the
granulated tau of Jiang et al. 2020, their tables, verdicts and figure, on constructed frames
whose answers are known."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sharpminima.analysis import correlation as corr
from sharpminima.analysis import reparam
from sharpminima.analysis.stats import bootstrap_ci, kendall
from sharpminima.figures import registry

BATCHES = (64, 256, 1024, 4096)


def grid(remedies=("",), nets=("F1", "C1"), seeds=(0, 1)):
    """Models over nets x seeds x batch sizes (and remedies at the largest batch). The gap and the
    `sharpness` measure both rise with batch size within a net, but C1's gaps are larger while its
    sharpness is smaller: the ordering holds within every group, not across nets."""
    rows = []
    for net in nets:
        for seed in seeds:
            for b, batch in enumerate(BATCHES):
                for remedy in (remedies if batch == BATCHES[-1] else ("",)):
                    r = 0.5 if remedy else 0.0  # a remedy lowers both gap and measure
                    gap = (1.0 if net == "F1" else 10.0) + b - r + 0.1 * seed
                    sharp = (10.0 + b if net == "F1" else 1.0 + 0.1 * b) - 0.01 * r
                    regime = "SB" if batch <= 256 else ("LB_" + remedy if remedy else "LB")
                    rows.append({"net": net, "dataset": "mnist", "regime": regime, "seed": seed,
                                 "batch_size": batch, "remedy": remedy, "sb_epochs": np.nan,
                                 "train_acc": 0.99, "test_acc": 0.99 - gap / 100,
                                 "train_loss": 0.01, "test_loss": 0.01 + gap / 10,
                                 "sharpness": sharp, "param_norm": 5.0 + seed * 0.3 - b * 0.01,
                                 "adaptive_l2": gap * 2.0})
    return pd.DataFrame(rows)


# --- Kendall's tau and its interval ---------------------------------------------------------------

def test_kendall_on_known_ranks():
    x = np.arange(6.0)
    assert kendall(x, 2 * x + 1) == pytest.approx(1.0)
    assert kendall(x, -x) == pytest.approx(-1.0)
    # by hand: of the 6 pairs of (1,1), (2,3), (3,2), (4,4) only (2,3)-(3,2) is discordant
    assert kendall([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx((5 - 1) / 6)
    assert kendall([1, 2, np.nan, 3], [1, 2, 0, 3]) == pytest.approx(1.0)  # NaN pair left out
    assert np.isnan(kendall([1, 1, 1], [1, 2, 3])) and np.isnan(kendall([1], [2]))


def test_bootstrap_interval_contains_the_estimate_and_is_deterministic():
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    y = x + rng.normal(size=40)
    tau = kendall(x, y)
    lo, hi = bootstrap_ci(x, y, kendall, n_resamples=300, seed=7)
    assert lo < tau < hi and -1 <= lo and hi <= 1
    assert bootstrap_ci(x, y, kendall, n_resamples=300, seed=7) == (lo, hi)
    assert bootstrap_ci(x, y, kendall, n_resamples=300, seed=8) != (lo, hi)
    narrow = bootstrap_ci(x, y, kendall, n_resamples=300, seed=7, level=0.5)
    assert lo <= narrow[0] <= narrow[1] <= hi


# --- the correlation study ------------------------------------------------------------------------

def test_gaps_are_points_and_nats():
    g = corr.with_gaps(grid())
    row = g.iloc[0]
    assert row.acc_gap == pytest.approx(1.0) and row.loss_gap == pytest.approx(0.1)
    with pytest.raises(ValueError, match="fractions"):
        corr.with_gaps(grid().assign(train_acc=99.0))


def test_granulated_tau_follows_batch_size_within_groups_not_across_nets():
    models = corr.with_gaps(grid())
    psi, groups = corr.granulated(models, "sharpness", "acc_gap", "batch_size")
    assert psi == pytest.approx(1.0) and groups == 4  # 2 nets x 2 seeds
    overall = kendall(models.sharpness, models.acc_gap)
    assert overall < 0.5  # across nets the ordering is broken
    assert corr.granulated(models, "sharpness", "acc_gap", "remedy") == (pytest.approx(np.nan,
                                                                          nan_ok=True), 0)
    table = corr.correlation_table(grid(), "tiny", ["sharpness", "param_norm"], n_bootstrap=100)
    row = table.set_index(["measure", "gap"]).loc[("sharpness", "acc_gap")]
    assert row.tau == pytest.approx(overall) and row.psi_batch_size == pytest.approx(1.0)
    assert np.isnan(row.psi_remedy) and np.isnan(row.psi_sb_epochs) and row.groups_remedy == 0
    assert row.varies_batch_size and not row.varies_remedy and not row.varies_sb_epochs
    assert row.psi == pytest.approx(1.0)  # the mean over the one varied factor
    md = corr.correlation_markdown(table)
    assert (md["granulated: remedy"] == "not varied").all()
    assert "+1.00 (4 groups)" in set(md["granulated: batch size"])
    assert corr._psi_text(True, 0.5, 1) == "+0.50 (1 group)"


def test_granulated_tau_per_factor_when_remedies_vary():
    models = corr.with_gaps(grid(remedies=("", "augment")))
    # batch-size groups: (net, seed, remedy '') vary batch; the augment models stand alone
    assert corr.granulated(models, "sharpness", "acc_gap", "batch_size") == (pytest.approx(1.0), 4)
    # remedy groups: (net, seed, batch 4096), two models each, measure and gap both lower
    assert corr.granulated(models, "sharpness", "acc_gap", "remedy") == (pytest.approx(1.0), 4)
    table = corr.correlation_table(models.drop(columns=["acc_gap", "loss_gap"]), "tiny",
                                   ["sharpness"], n_bootstrap=50)
    assert table.psi.iloc[0] == pytest.approx(1.0) and table.groups_remedy.iloc[0] == 4
    # a measure constant within every remedy group: varied, but no tau there ('-')
    flat = corr.correlation_table(models.drop(columns=["acc_gap", "loss_gap"]), "tiny",
                                  ["param_norm"], n_bootstrap=20)
    assert flat.varies_remedy.all() and flat.psi_remedy.isna().all()
    assert set(corr.correlation_markdown(flat)["granulated: remedy"]) == {"-"}


def test_correlation_table_is_deterministic_with_declared_bootstrap():
    a = corr.correlation_table(grid(), "tiny", n_bootstrap=100, seed=1)
    b = corr.correlation_table(grid(), "tiny", n_bootstrap=100, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.measure.unique()) == ["sharpness", "adaptive_l2", "param_norm", "train_loss"]
    assert set(a.gap) == {"acc_gap", "loss_gap"} and (a.n_bootstrap == 100).all()
    defined = a[a.tau.notna()]
    assert len(defined) == 6 and a[a.tau.isna()].measure.unique().tolist() == ["train_loss"]
    assert ((defined.ci_lo <= defined.tau) & (defined.tau <= defined.ci_hi)).all()
    assert "TINY TEST SCALE" in corr.correlation_caption(a, "tiny")


def test_correlation_verdict_follows_the_data():
    table = corr.correlation_table(grid(), "tiny", ["sharpness", "adaptive_l2", "param_norm"],
                                   n_bootstrap=100)
    v = corr.sharpness_beats_norm(table)
    # adaptive_l2 is the gap itself (tau 1, interval [1, 1]); the norm falls with batch size
    assert v.verdict == "holds" and v.items and v.rule.startswith("Holds")
    best = next(i for i in v.items if i.key == "adaptive_l2")
    assert best.values["tau"] == pytest.approx(1.0) and best.values["clearly"]
    # the norm tracks the gap exactly, the sharpness measures do worse: does not hold
    models = grid().assign(param_norm=lambda d: (d.train_acc - d.test_acc) * 7)
    v = corr.sharpness_beats_norm(corr.correlation_table(
        models, "tiny", ["sharpness", "adaptive_l2", "param_norm"], n_bootstrap=100))
    assert v.verdict == "does not hold"
    no_base = corr.correlation_table(grid(), "tiny", ["sharpness"], n_bootstrap=20)
    assert corr.sharpness_beats_norm(no_base).verdict == "not run"


# --- the reparametrization test -------------------------------------------------------------------

ALPHAS = (0.5, 1.0, 2.0, 4.0)


def reparam_rows(lb_adaptive=5.0):
    """adaptive_l2 stays (within 0.1%) at every alpha; Metric 2.1 scales with alpha, SB's faster,
    so at large alpha its LB/SB ratio flips."""
    rows = []
    for regime, base, power in (("SB", 1.0, 3), ("LB", lb_adaptive, 1)):
        for seed in (0, 1, 2):
            for alpha in ALPHAS:
                rows.append({"net": "F1", "dataset": "mnist", "regime": regime, "seed": seed,
                             "alpha": alpha,
                             "adaptive_l2": (base + 0.1 * seed) * (1 + 1e-3 * (alpha - 1)),
                             "sharpness": (5.0 if regime == "LB" else 1.0) * alpha ** power,
                             "param_norm": 10.0 * (alpha + 1 / alpha)})
    return pd.DataFrame(rows)


def test_reparam_table_marks_invariant_and_scaling_measures():
    t = reparam.reparam_table(reparam_rows(), "tiny", ["adaptive_l2", "sharpness", "param_norm"])
    assert len(t) == 3 * 2 * len(ALPHAS)
    inv = t.groupby("measure").invariant.all()
    assert inv["adaptive_l2"] and not inv["sharpness"] and not inv["param_norm"]
    lb = t[t.regime == "LB"].set_index(["measure", "alpha"])
    assert lb.loc[("sharpness", 1.0), "lb_over_sb"] == pytest.approx(5.0)
    assert lb.loc[("sharpness", 2.0), "lb_over_sb"] == pytest.approx(5.0 * 2 / 8)
    assert lb.loc[("sharpness", 2.0), "keeps_sign"] == True  # noqa: E712 (1.25 > 1)
    assert lb.loc[("sharpness", 2.0), "keeps_size"] == False  # noqa: E712 (x 1/4)
    assert lb.loc[("sharpness", 4.0), "keeps_sign"] == False  # noqa: E712 (5/16 < 1)
    assert lb.loc[("sharpness", 4.0), "max_rel_dev"] == pytest.approx(3.0)
    assert (lb.loc["adaptive_l2"].keeps_sign == True).all()  # noqa: E712
    assert (lb.loc["adaptive_l2"].keeps_size == True).all()  # noqa: E712
    assert t[t.regime == "SB"].lb_over_sb.isna().all()
    md = reparam.reparam_markdown(t)
    assert set(md[md.measure == "sharpness (Metric 2.1)"].invariant) == {"NO"}
    assert "10%" in reparam.reparam_caption("tiny")
    with pytest.raises(ValueError, match="alpha = 1"):
        reparam.reparam_table(reparam_rows().query("alpha != 1"), "tiny")


def test_reparam_verdict_names_the_invariant_measures():
    v = reparam.contrast_survives_reparam(reparam.reparam_table(reparam_rows(), "tiny",
                                                          ["adaptive_l2", "sharpness"]))
    assert v.verdict == "holds"
    items = {i.key: i.values for i in v.items}
    assert items["adaptive_l2"]["invariant"] and items["adaptive_l2"]["lb_above_sb"]
    assert not items["sharpness"]["invariant"]
    assert "adaptive_l2: invariant" in v.evidence and "sharpness: NOT invariant" in v.evidence
    # the invariant measure puts LB below SB: the contrast does not survive
    flat = reparam.reparam_table(reparam_rows(lb_adaptive=0.5), "tiny",
                                 ["adaptive_l2", "sharpness"])
    assert reparam.contrast_survives_reparam(flat).verdict == "does not hold"
    only_scaling = reparam.reparam_table(reparam_rows(), "tiny", ["sharpness"])
    assert reparam.contrast_survives_reparam(only_scaling).verdict == "does not hold"
    at_one = reparam.reparam_table(reparam_rows().query("alpha == 1"), "tiny")
    assert reparam.contrast_survives_reparam(at_one).verdict == "not run"


def test_reparam_verdict_reads_the_written_table(tmp_path):
    from sharpminima.analysis.tables import write_frame
    t = reparam.reparam_table(reparam_rows(), "tiny", ["adaptive_l2", "sharpness"])
    write_frame(t, tmp_path / "r.csv", tmp_path / "r.md", reparam.reparam_caption("tiny"),
                reparam.reparam_markdown)
    assert reparam.contrast_survives_reparam(pd.read_csv(tmp_path / "r.csv")).verdict == "holds"
    assert (tmp_path / "r.md").read_text().startswith("Reparametrization test")


# --- the figure -----------------------------------------------------------------------------------

def test_correlation_figure_draws_one_panel_per_measure(tmp_path):
    models = grid().assign(sharpness=lambda d: d.sharpness ** 3)  # spans > 1 decade: log x
    table = corr.correlation_table(models, "demo", ["sharpness", "adaptive_l2", "param_norm"],
                                   n_bootstrap=50)
    frame = corr.correlation_frame(models, table)
    assert len(frame) == 3 * len(models)
    assert {"net", "regime", "seed", "batch_size", "remedy", "sb_epochs", "measure", "value",
            "acc_gap", "loss_gap", "tau", "ci_lo", "ci_hi", "level"} <= set(frame.columns)
    frame.to_csv(tmp_path / "correlation.csv", index=False)
    df = registry.read_inputs("correlation", [tmp_path / "correlation.csv"])
    assert (df.remedy == "").all()
    fig = registry.FIGURES["correlation"](df, "demo")
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 3
    assert "Metric 2.1" in panels[0].get_title() and "$\\tau$" in panels[0].get_title()
    assert panels[0].get_xscale() == "log" and panels[2].get_xscale() == "linear"
    assert panels[0].get_ylabel() == corr.GAP_LABELS["acc_gap"]
    assert len(panels[0].collections) == 2  # SB and LB
    assert "DEMO" in fig.get_suptitle() and "16 trained models" in fig.get_suptitle()
    assert registry.MODULE_OF["correlation"] == "sharpminima.figures.correlation"
