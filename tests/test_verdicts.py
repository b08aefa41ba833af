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
    assert verdicts.lb_generalizes_worse(
        runs([.98, .981, .979], [.95, .951, .949])).verdict == "holds"
    # lower on average but within noise: partly
    assert verdicts.lb_generalizes_worse(runs([.98, .90, .99], [.97, .96, .92])).verdict == "partly"
    assert verdicts.lb_generalizes_worse(runs([.95, .951], [.98, .981])).verdict == "does not hold"
    assert verdicts.lb_generalizes_worse(runs([.95], [])).verdict == "not run"


def test_sharpness_verdicts_follow_the_data():
    assert verdicts.lb_is_sharper(sharp([1.0, 1.2, 0.9], [100, 120, 90])).verdict == "holds"
    assert verdicts.lb_is_sharper(sharp([10, 12, 9], [30, 36, 27])).verdict == "partly"
    assert verdicts.lb_is_sharper(sharp([30, 36, 27], [10, 12, 9])).verdict == "does not hold"
    assert verdicts.lb_is_sharper(
        sharp([1.0], [100.0]).query("regime == 'SB'")).verdict == "not run"


def test_welch_matches_reference():
    from sharpminima.analysis.stats import welch
    t, p = welch([1.0, 2.0, 3.0], [4.0, 6.0, 8.0])
    # reference: Welch t = (2 - 6) / sqrt(1/3 + 4/3), df = 2.94 (computed by hand)
    assert np.isclose(t, -4.0 / np.sqrt(5.0 / 3.0))
    assert 0.03 < p < 0.06
    assert np.isnan(welch([1.0], [2.0, 3.0])[1])


def test_readme_verdicts_replaces_only_the_marked_section():
    from sharpminima.analysis.report import END, START, readme_with_verdicts
    readme = f"# x\n\nintro\n{START}\nstale text\n{END}\n\n## after\n"
    report = ("# r\n\n**Scale: demo.** note\n\n## Verdicts\n\n"
              "| claim | verdict |\n|--|--|\n| a | holds |\n\n## Table 2\n")
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
    def ws(acc, sh):
        return pd.DataFrame([{"net": "F1", "seed": 0, "sb_epochs": k, "lb_test_acc": a,
                              "eps": 1e-3, "space": "full", "sharpness": h}
                             for k, a, h in zip((0, 5, 10), acc, sh)])

    assert verdicts.warm_start_recovers(ws([.80, .84, .85], [400, 300, 100])).verdict == "holds"
    assert verdicts.warm_start_recovers(
        ws([.85, .84, .80], [100, 300, 400])).verdict == "does not hold"

    def tr(lb, sb):
        return pd.DataFrame([{"net": "F1", "regime": r, "seed": 0, "epoch": e,
                              "loss": loss, "eps": 1e-3, "space": "full", "sharpness": h}
                             for r, hs in (("LB", lb), ("SB", sb))
                             for e, loss, h in zip(range(4), (2.0, 1.0, 0.5, 0.1), hs)])

    assert verdicts.sharpness_rises_for_lb_only(tr([1, 2, 3, 4], [4, 3, 2, 1])).verdict == "holds"
    assert verdicts.sharpness_rises_for_lb_only(tr([1, 2, 3, 4], [1, 2, 3, 4])).verdict == "partly"
    assert verdicts.sharpness_rises_for_lb_only(
        tr([4, 3, 2, 1], [1, 2, 3, 4])).verdict == "does not hold"


def test_verdicts_carry_their_statistics_as_data():
    v = verdicts.lb_generalizes_worse(runs([.98, .981, .979], [.95, .951, .949]))
    assert v.threshold == {"alpha": verdicts.ALPHA} and v.rule.startswith("Holds:")
    (item,) = v.items
    assert item.key == "F1" and item.values["gap_pts"] > 2 and item.values["p"] < 0.05
    assert v.evidence == f"{item.text}. {v.rule}" and v.stated == item.text
    s = verdicts.lb_is_sharper(sharp([1.0, 1.2, 0.9], [100, 120, 90]))
    assert len(s.items) == 4 and all(i.values["ratio"] > 10 for i in s.items)
    assert s.threshold["ratio"] == verdicts.ORDER_OF_MAGNITUDE
    assert "F1 full eps 0.001: LB/SB" in s.evidence
    none = verdicts.lb_generalizes_worse(runs([.95], []))
    assert none.items == [] and none.evidence == none.stated == "no net has both SB and LB runs"


def test_remedies_verdict_reads_the_remedies_tables_labels():
    from sharpminima.analysis import remedies_table as rt
    table = pd.DataFrame({"net": ["F1"] * 3, "regime": ["LB_augment", "LB_fgsm", "LB_warmup"],
                          "ours_agrees": [rt.AGREES_ACCURACY_ONLY, rt.DISAGREES, rt.NO_VERDICT]})
    v = verdicts.remedies_leave_lb_sharp(table)
    assert v.verdict == verdicts.PARTLY and [i.values["agrees"] for i in v.items] == [
        rt.AGREES_ACCURACY_ONLY, rt.DISAGREES]
    all_agree = table.assign(ours_agrees=[rt.AGREES, rt.AGREES, rt.NO_VERDICT])
    assert verdicts.remedies_leave_lb_sharp(all_agree).verdict == verdicts.HOLDS


def test_one_welch_test_for_the_analysis():
    from sharpminima.analysis import remedies_table, stats
    assert verdicts.welch is stats.welch
    assert np.isnan(stats.welch_p(pd.Series([1.0, 1.0]), pd.Series([2.0, 2.0])))  # no variance
    assert stats.welch_p(pd.Series([1.0, 2.0, 3.0]), pd.Series([4.0, 6.0, 8.0])) == \
        stats.welch([1.0, 2.0, 3.0], [4.0, 6.0, 8.0])[1]
    assert not hasattr(remedies_table, "_welch_p")
