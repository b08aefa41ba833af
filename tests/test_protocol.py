"""The divergence rule, the comparable-training-fit check, and the tidy record tables."""

import json
import math

import pandas as pd
import pytest

from sharpminima.analysis import protocol, records, tables, verdicts
from sharpminima.training import divergence


def run(net="F1", regime="SB", seed=0, train_acc=0.99, test_acc=0.9, train_loss=0.05,
        status="converged", **extra):
    return {"net": net, "regime": regime, "seed": seed, "dataset": "fashion_mnist",
            "status": status, "batch_size": 32, "epochs": 3, "train_acc": train_acc,
            "test_acc": test_acc, "train_loss": train_loss, "test_loss": 0.3, **extra}


def test_divergence_rule():
    assert divergence.reason(run()) is None
    assert "non-finite" in divergence.reason(run(status="diverged"))
    assert "ln(10)" in divergence.reason(run(train_loss=math.log(10) + 0.01, train_acc=0.5))
    assert "twice chance" in divergence.reason(run(train_loss=1.0, train_acc=0.2))
    assert divergence.reason(run(train_loss=1.0, train_acc=0.21)) is None
    # the run's own class count wins over the dataset's (C = 100: 2/C = 2%)
    assert divergence.reason(run(train_loss=1.0, train_acc=0.05, num_classes=100)) is None


def test_fit_check_flags_pairs_beyond_the_tolerance():
    runs = pd.DataFrame([run(regime="SB", train_acc=0.91), run(regime="LB", train_acc=0.99),
                         run(net="C1", regime="SB", train_acc=0.995),
                         run(net="C1", regime="LB", train_acc=0.990)])
    fits = protocol.fit_check(runs, tolerance=2.0)
    assert not fits["F1"].comparable and fits["F1"].difference == pytest.approx(8.0)
    assert fits["C1"].comparable and fits["C1"].difference == pytest.approx(0.5)
    assert protocol.fit_check(runs, tolerance=10.0)["F1"].comparable


def _pairs(net, sb_test, lb_test, sb_train=0.99, lb_train=0.99):
    return [run(net=net, regime="SB", seed=s, test_acc=a, train_acc=sb_train)
            for s, a in enumerate(sb_test)] + \
           [run(net=net, regime="LB", seed=s, test_acc=a, train_acc=lb_train)
            for s, a in enumerate(lb_test)]


def test_a_pair_not_at_comparable_fit_cannot_make_the_claim_hold_or_fail():
    good = _pairs("F1", [.98, .981, .979], [.95, .951, .949])
    unfit = _pairs("C1", [.70, .701, .699], [.80, .801, .799], sb_train=0.80, lb_train=0.99)
    only_unfit = pd.DataFrame(unfit)
    v = verdicts.lb_generalizes_worse(only_unfit, protocol.fit_check(only_unfit))
    assert v.verdict == verdicts.NOT_COMPARABLE and "NOT COMPARED" in v.evidence
    both = pd.DataFrame(good + unfit)
    v = verdicts.lb_generalizes_worse(both, protocol.fit_check(both))
    assert v.verdict == verdicts.PARTLY  # F1 holds; C1 (LB better, but unfit) is not counted
    alone = pd.DataFrame(good)
    assert verdicts.lb_generalizes_worse(alone, protocol.fit_check(alone)).verdict == "holds"


def test_table2_marks_diverged_runs_and_leaves_them_out_of_the_means():
    runs = pd.DataFrame([run(regime="SB", seed=0, test_acc=0.90),
                         run(regime="SB", seed=1, test_acc=0.92),
                         run(regime="LB", seed=0, test_acc=0.88),
                         run(regime="LB", seed=1, status="diverged", train_loss=float("nan"),
                             train_acc=0.1, test_acc=0.1)])
    t2 = tables.table2(runs, "tiny").set_index("regime")
    assert t2.loc["LB", "n"] == 1 and t2.loc["LB", "diverged"] == 1
    assert t2.loc["LB", "test_acc_mean"] == pytest.approx(88.0)
    assert t2.loc["SB", "test_gap_sb_minus_lb"] == pytest.approx(3.0)
    md = tables.table2_markdown(t2.reset_index())
    assert "diverged" in md.columns
    assert list(md["SB-LB train fit difference (pts)"]) == ["0.00 ok"] * 2


def test_records_tables_and_compute_are_exactly_the_given_records(tmp_path):
    paths = []
    for seed, wall in ((0, 10.0), (1, 5.5)):
        p = tmp_path / f"m{seed}.json"
        p.write_text(json.dumps({**run(seed=seed), "wall_s": wall, "spec": {"lr": 0.001},
                                 "provenance": {"device": "cpu", "code": {"git_commit": "abc"},
                                                "packages": {"torch": "2"}, "scheduler": {}}}))
        paths.append(str(p))
    sharp = tmp_path / "s.json"
    sharp.write_text(json.dumps({"net": "F1", "regime": "SB", "seed": 0, "space": "full",
                                 "eps": 1e-3, "sharpness": 1.5, "wall_s": 2.0}))
    (tmp_path / "stale.json").write_text(json.dumps({**run(seed=9), "wall_s": 1e6}))
    out = tmp_path / "summary"
    records.write_all({"runs": paths, "sharpness": [str(sharp)]}, [], out)
    runs = records.load(out, "runs")
    assert list(runs.seed) == [0, 1] and list(runs.device) == ["cpu", "cpu"]
    assert json.loads(runs.spec[0]) == {"lr": 0.001} and runs.record[1] == paths[1]
    compute = records.compute_by_stage(out).set_index("stage")
    assert compute.loc["train", "records"] == 2 and compute.loc["train", "compute_s"] == 15.5
    assert compute.loc["sharpness", "compute_s"] == 2.0 and "hessian" not in compute.index
    assert records.load(out, "hessian").empty
