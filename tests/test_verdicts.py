"""Verdicts are computed from the data: change the data and the verdict changes."""

import numpy as np
import pandas as pd

from sharpminima.analysis import verdicts


def runs(sb_acc, lb_acc, net="F1"):
    rows = [{"net": net, "regime": r, "seed": i, "test_acc": a}
            for r, accs in (("SB", sb_acc), ("LB", lb_acc)) for i, a in enumerate(accs)]
    return pd.DataFrame(rows)


def sharp(sb, lb, spaces=("full", "subspace"), eps=(1e-3, 5e-4)):
    rows = [{"net": "F1", "regime": r, "seed": i, "space": sp, "eps": e, "sharpness": v}
            for sp in spaces for e in eps for r, vals in (("SB", sb), ("LB", lb))
            for i, v in enumerate(vals)]
    return pd.DataFrame(rows)


def test_generalization_gap_verdicts_follow_the_data():
    assert verdicts.lb_generalizes_worse(runs([.98, .981, .979], [.95, .951, .949])).verdict == "holds"
    # lower on average but within noise: partly
    assert verdicts.lb_generalizes_worse(runs([.98, .90, .99], [.97, .96, .92])).verdict == "partly"
    assert verdicts.lb_generalizes_worse(runs([.95, .951], [.98, .981])).verdict == "does not hold"
    assert verdicts.lb_generalizes_worse(runs([.95], [])).verdict == "not run"


def test_sharpness_verdicts_follow_the_data():
    assert verdicts.lb_is_sharper(sharp([1.0, 1.2, 0.9], [100, 120, 90])).verdict == "holds"
    assert verdicts.lb_is_sharper(sharp([10, 12, 9], [30, 36, 27])).verdict == "partly"
    assert verdicts.lb_is_sharper(sharp([30, 36, 27], [10, 12, 9])).verdict == "does not hold"
    assert verdicts.lb_is_sharper(sharp([1.0], [100.0]).query("regime == 'SB'")).verdict == "not run"


def test_welch_matches_reference():
    t, p = verdicts.welch([1.0, 2.0, 3.0], [4.0, 6.0, 8.0])
    # reference: Welch t = (2 - 6) / sqrt(1/3 + 4/3), df = 2.94 (computed by hand)
    assert np.isclose(t, -4.0 / np.sqrt(5.0 / 3.0))
    assert 0.03 < p < 0.06
    assert np.isnan(verdicts.welch([1.0], [2.0, 3.0])[1])


def test_readme_verdicts_replaces_only_the_marked_section():
    from sharpminima.analysis.report import END, START, readme_with_verdicts
    readme = f"# x\n\nintro\n{START}\nstale text\n{END}\n\n## after\n"
    report = "# r\n\n**Scale: demo.** note\n\n## Verdicts\n\n| claim | verdict |\n|--|--|\n| a | holds |\n\n## Table 2\n"
    out = readme_with_verdicts(readme, report, "make readme-verdicts")
    assert "stale text" not in out and "| a | holds |" in out and "## after" in out
    assert "**Scale: demo.**" in out and out.startswith("# x\n\nintro\n")


def fig4(acc, sharpness):
    return pd.DataFrame([{"net": "C1", "seed": s, "batch_size": b, "test_acc": a + 0.001 * s,
                          "eps": 1e-3, "space": "full", "sharpness": h}
                         for s in (0, 1) for b, a, h in zip((256, 1024, 4096), acc, sharpness)])


def test_threshold_verdict_follows_the_data():
    assert verdicts.batch_threshold(fig4([.80, .79, .70], [10, 50, 200])).verdict == "holds"
    assert verdicts.batch_threshold(fig4([.80, .80, .80], [10, 50, 200])).verdict == "partly"
    assert verdicts.batch_threshold(fig4([.70, .75, .80], [200, 50, 10])).verdict == "does not hold"
    assert verdicts.batch_threshold(pd.DataFrame()).verdict == "not run"


def test_warm_start_and_along_training_verdicts_follow_the_data():
    ws = lambda acc, sh: pd.DataFrame([{"net": "F1", "seed": 0, "sb_epochs": k, "lb_test_acc": a,
                                        "eps": 1e-3, "space": "full", "sharpness": h}
                                       for k, a, h in zip((0, 5, 10), acc, sh)])
    assert verdicts.warm_start_recovers(ws([.80, .84, .85], [400, 300, 100])).verdict == "holds"
    assert verdicts.warm_start_recovers(ws([.85, .84, .80], [100, 300, 400])).verdict == "does not hold"
    tr = lambda lb, sb: pd.DataFrame([{"net": "F1", "regime": r, "seed": 0, "epoch": e,
                                       "loss": loss, "eps": 1e-3, "space": "full", "sharpness": h}
                                      for r, hs in (("LB", lb), ("SB", sb))
                                      for e, loss, h in zip(range(4), (2.0, 1.0, 0.5, 0.1), hs)])
    assert verdicts.sharpness_rises_for_lb_only(tr([1, 2, 3, 4], [4, 3, 2, 1])).verdict == "holds"
    assert verdicts.sharpness_rises_for_lb_only(tr([1, 2, 3, 4], [1, 2, 3, 4])).verdict == "partly"
    assert verdicts.sharpness_rises_for_lb_only(tr([4, 3, 2, 1], [1, 2, 3, 4])).verdict == "does not hold"
