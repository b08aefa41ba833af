"""The real Snakefile, end to end, on a tiny config: generated data in the upstream formats served
from 127.0.0.1 (so the real download-verify-prepare path runs), two nets, two regimes, two seeds."""

import json

import pandas as pd
import pytest

import fakedata
from sharpminima.training import divergence
from workflow_helpers import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.integration


# Every remedy, composed in one regime (one regime keeps the DAG small: the remedies' own tests
# are in test_remedies.py); F1 only, since C1 lists its regimes.
REMEDY_REGIMES = {
    "LB_remedies": {"batch_fraction": 0.25, "remedy": {
        "augment": {"hflip": False}, "proximal": {"inner_steps": 2}, "fgsm": {},
        "lr_warmup": {"scale_from_batch": 32, "warmup_epochs": 1},
        "ghost_bn": {"virtual_batch": 32},
        "sam": {}}},
}


# Figs. 4, 5, 6 and the gradient noise on F1, as small as they go: every rule of sweeps.smk runs
SECTION4 = {
    "batch_sweep": {"batch_sizes": {"F1": [32, 80]}, "epochs": 1, "seeds": [0]},
    "warm_start": {"nets": ["F1"], "sb_epochs": [0, 1], "lb_epochs": 1},
    "sharpness_along_training": {"nets": ["F1"], "epochs": [0, 1]},
    "gradient_noise": {"nets": ["F1"], "epochs": [0, 1], "batch_sizes": [8, 16, 32], "repeats": 1,
                       "train_size": 160, "scale": {"chunk": 32, "train_size": 160}},
}


# Beyond the paper (measures of every model, reparametrization test, correlation study) at its
# cheapest: one ascent step, two Gaussian samples, no m-sharpness, one alpha besides 1, F1 only.
BEYOND = {
    "generalization_measures": {"steps": 1, "samples": 2, "m": None},
    "reparametrization": {"nets": ["F1"], "alphas": [1.0, 10.0]},
}


def tiny_config(url: str, checksums: dict) -> dict:
    return {
        "scale": "tiny",
        "threads": 1,
        "nets": {
            "F1": {"dataset": "fashion_mnist", "train": {"max_epochs": 2}},
            "C1": {"dataset": "fashion_mnist", "train_size": 160, "test_size": 80,
                   "train": {"max_epochs": 1}, "regimes": ["SB", "LB"]},
        },
        "regimes": {"SB": {"batch_size": 32}, "LB": {"batch_fraction": 0.25},
                    **REMEDY_REGIMES,  # every remedy at once, F1 only
                    "dynamic": {"batch_size": 32, "batch_schedule": [[2, 0.25]]}},  # F1 only
        "seeds": [0, 1],
        "train": {"eval_chunk": 100, "patience": None},
        **SECTION4,
        **BEYOND,
        "datasets": {"fashion_mnist": {"sources": [url], "checksums": checksums}},
    }


def run_tiny_dag(tmp_path_factory):
    """Run the whole tiny DAG once; tests below inspect its outputs."""
    root = tmp_path_factory.mktemp("tiny")
    served = root / "served"
    sums = fakedata.write_idx_dataset(served, n_train=320, n_test=80, seed=1)
    work = root / "work"
    work.mkdir()
    with fakedata.serve_directory(served) as url:
        config = write_config(root / "tiny.yaml", tiny_config(url, sums))
        # ~120 jobs, most of them a few seconds of work behind a Python start: allow a busy machine
        proc = snakemake(work, config, "--cores", "2", "--workflow-profile", "none", timeout=2400)
    return work, config, proc


def test_dag_completes_with_every_run(tiny_run):
    work, _, _ = tiny_run
    for net in ("F1", "C1"):
        for regime in ("SB", "LB"):
            for seed in (0, 1):
                d = work / f"results/runs/{net}/{regime}/seed{seed}"
                assert {"model.pt", "history.csv", "metrics.json"} <= {p.name for p in d.iterdir()}
    assert (work / "data/prepared/fashion_mnist.npz").exists()
    manifest = json.loads((work / "data/raw/fashion_mnist/MANIFEST.json").read_text())
    assert "127.0.0.1" in json.dumps(manifest)  # it really came over HTTP


def test_table2_has_every_net_and_regime(tiny_run):
    work, _, _ = tiny_run
    t2 = pd.read_csv(work / "results/tables/table2.csv")
    assert set(zip(t2.net, t2.regime)) == {("F1", "SB"), ("F1", "LB"), ("C1", "SB"), ("C1", "LB")}
    assert (t2.n == 2).all() and (t2.scale == "tiny").all()
    lb = t2.set_index(["net", "regime"]).loc[("F1", "LB")]
    assert lb.batch_size == 80  # 25% of 320
    assert lb.paper_test_acc_mean == pytest.approx(97.81)
    md = (work / "results/tables/table2.md").read_text()
    assert "TINY TEST SCALE" in md and "97.81 ± 0.07" in md


def test_remedies_table_beside_sb_and_lb(tiny_run):
    work, _, _ = tiny_run
    for regime in REMEDY_REGIMES:
        assert not (work / f"results/runs/C1/{regime}").exists()  # C1 lists only SB and LB
        m = json.loads((work / f"results/runs/F1/{regime}/seed0/metrics.json").read_text())
        assert set(m["spec"]["remedy"]) == set(REMEDY_REGIMES[regime]["remedy"])
        assert m["spec"]["remedy"]["sam"]["rho"] == 0.05  # schema defaults filled in
    t = pd.read_csv(work / "results/tables/remedies.csv")
    assert list(t.regime) == ["SB", "LB", *REMEDY_REGIMES] and set(t.net) == {"F1"}
    assert (t.n == 2).all() and t["sharpness_eps0.001_mean"].notna().all()
    assert t.test_acc_change_vs_lb.iloc[2:].notna().all()
    assert "TINY TEST SCALE" in (work / "results/tables/remedies.md").read_text()
    t2 = pd.read_csv(work / "results/tables/table2.csv")
    assert set(t2.regime) == {"SB", "LB"}  # the paper's table keeps the plain regimes


def test_section4_experiments_and_their_figures(tiny_run):
    work, _, _ = tiny_run
    sweeps = work / "results/sweeps"
    fig4 = pd.read_csv(sweeps / "batch/F1/fig4.csv")
    assert sorted(fig4.batch_size) == [32, 80] and fig4.sharpness.notna().all()
    assert (fig4.epochs == 1).all() and (fig4.scale == "tiny").all()
    # Fig. 5: each warm start's first evaluation is the SB trajectory's iterate
    fig5 = pd.read_csv(sweeps / "warmstart/F1/fig5.csv").set_index("sb_epochs")
    assert list(fig5.index) == [0, 1] and fig5.sharpness.notna().all()
    sb = pd.read_csv(sweeps / "trajectory/F1/SB/seed0/history.csv").set_index("epoch")
    assert fig5.loc[1, "sb_test_acc"] == sb.loc[1, "test_acc"]
    assert (fig5.batch_size == 80).all()
    fig6 = pd.read_csv(sweeps / "trajectory/F1/fig6.csv")
    assert set(zip(fig6.regime, fig6.epoch)) == {(r, e) for r in ("SB", "LB") for e in (0, 1)}
    assert fig6.sharpness.notna().all() and (fig6.loss > 0).all()
    spread = pd.read_csv(sweeps / "trajectory/F1/noise_spread.csv")
    assert len(spread) == 2 * 2 * 3 and spread.fit_slope.notna().all()
    assert (spread.spread > 0).all()
    scale = pd.read_csv(sweeps / "trajectory/F1/noise_scale.csv")
    assert set(scale.regime) == {"SB", "LB"} and (scale.b_simple > 0).all()
    for kind in ("fig4", "fig5", "fig6", "noise_spread", "noise_scale"):
        for ext in ("png", "pdf"):
            assert (work / f"results/figures/{kind}_F1.{ext}").stat().st_size > 0, kind
    # dynamic sampling: the declared batches, and the table beside SB and LB
    h = pd.read_csv(work / "results/runs/F1/dynamic/seed0/history.csv")
    assert list(h.batch_size) == [32, 80]
    dyn = pd.read_csv(work / "results/tables/dynamic.csv")
    assert list(dyn.regime) == ["SB", "LB", "dynamic"] and (dyn.n == 2).all()
    assert dyn["sharpness_eps0.001_mean"].notna().all()
    assert "dynamic" not in set(pd.read_csv(work / "results/tables/table2.csv").regime)


def test_training_logs_show_progress(tiny_run):
    work, _, _ = tiny_run
    log = (work / "results/logs/train/F1/SB/seed0.log").read_text()
    assert "epoch    1/2" in log and "epoch    2/2" in log


def test_nothing_left_to_do_after_a_complete_run(tiny_run):
    work, config, _ = tiny_run
    assert planned_jobs(work, config, "--workflow-profile", "none") == {}


REPORT_SECTIONS = ["## Verdicts", "## Training fit (the paper's protocol)", "## Diverged runs",
                   "## Table 2: accuracy", "## Table 3: sharpness, full space",
                   "## Table 4: sharpness, random subspace", "## Hessian spectrum", "## Remedies",
                   "## Dynamic sampling", "## Beyond the paper: the reparametrization test",
                   "## Beyond the paper: does sharpness predict the generalization gap?",
                   "## Figures", "## Provenance"]


def verdict_of(report_md: str, claim_start: str) -> str:
    row = next(line for line in report_md.splitlines() if line.startswith(f"| {claim_start}"))
    return row.split("|")[2].strip()


def test_report_has_every_section_and_computed_findings(tiny_run):
    work, _, _ = tiny_run
    md = (work / "results/report/REPORT.md").read_text()
    for section in REPORT_SECTIONS:
        assert section in md, section
    assert "**Scale: tiny.**" in md
    # every figure kind of the tiny run is linked, with a computed line on what ours shows
    figures = md.split("## Figures", 1)[1].split("## Provenance", 1)[0]
    for kind in ("fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "noise_spread", "noise_scale",
                 "slice2d", "correlation"):
        block = figures.split(f"]({'../figures/'}{kind}_", 1)[0].rsplit("### ", 1)[1]
        assert "Ours: " in block and "no data" not in block, kind
    # every claim the tiny config exercises gets a computed verdict (its one remedy regime
    # composes all remedies, so no single paper remedy is there to judge)
    verdict_rows = md.split("## Verdicts", 1)[1].split("## Table 2", 1)[0]
    assert verdict_rows.count("not run") == 1 and "no remedy of the paper was run" in verdict_rows


def test_report_verdicts_change_when_the_data_change(tiny_run, tmp_path):
    """Rewrite SB and LB test accuracies in a copy of the work dir: the pipeline reruns what
    depends on them, and the Table 2 verdict follows."""
    import shutil

    src, config, _ = tiny_run
    work = tmp_path / "work"
    shutil.copytree(src, work, symlinks=True)
    results = work / "results"
    before = verdict_of((results / "report/REPORT.md").read_text(), "LB test accuracy")
    for net in ("F1", "C1"):
        for seed in (0, 1):
            sb, lb = (results / f"runs/{net}/{r}/seed{seed}/metrics.json" for r in ("SB", "LB"))
            msb, mlb = json.loads(sb.read_text()), json.loads(lb.read_text())
            # make SB clearly better than LB on every net (tiny data: both at 100% as run)
            msb["test_acc"], mlb["test_acc"] = 0.90 + 0.001 * seed, 0.10 + 0.001 * seed
            msb["train_acc"] = mlb["train_acc"] = 1.0  # at comparable training fit
            sb.write_text(json.dumps(msb))
            lb.write_text(json.dumps(mlb))
    snakemake(work, config, "--cores", "2", "--workflow-profile", "none", "--until", "report")
    after = verdict_of((results / "report/REPORT.md").read_text(), "LB test accuracy")
    assert before == "does not hold" and after == "holds"


def test_measurement_records_carry_their_runs_labels(tiny_run):
    work, _, _ = tiny_run
    for kind, name in (("hessian", "seed1.json"), ("sharpness", "seed1/full_eps0.001.json")):
        rec = json.loads((work / f"results/{kind}/F1/LB/{name}").read_text())
        assert (rec["net"], rec["regime"], rec["seed"]) == ("F1", "LB", 1), kind


def test_beyond_the_paper_tables_figure_and_verdicts(tiny_run):
    """Every trained model with a Metric 2.1 record gets a measures record (a trajectory's iterates
    are not trained models: none); the reparametrization table
    has F1's SB and LB at each alpha; the correlation table covers every trained model; the report
    shows both tables and computes both verdicts."""
    work, _, _ = tiny_run
    results = work / "results"
    rec = json.loads((results / "measures/F1/LB/seed1.json").read_text())
    assert (rec["net"], rec["regime"], rec["seed"]) == ("F1", "LB", 1) and rec["param_norm"] > 0
    for model in ("batch/F1/b32/seed0/model", "warmstart/F1/from1/seed0/model"):
        assert (results / f"sweeps/{model}.measures.json").exists(), model
    assert (results / "sweeps/trajectory/F1/SB/seed0/iterates/epoch1.pt").exists()
    assert not list((results / "sweeps/trajectory").rglob("*.measures.json"))
    t = pd.read_csv(results / "tables/reparam.csv")
    assert set(zip(t.net, t.regime)) == {("F1", "SB"), ("F1", "LB")}
    assert set(t.alpha) == {1.0, 10.0} and {"sharpness", "adaptive_linf", "hessian_top"} <= set(
        t.measure)
    adaptive = t[t.measure == "adaptive_linf"]
    assert (adaptive.max_rel_dev < 0.1).all()  # scale-invariant, as the rescaling is
    assert "TINY TEST SCALE" in (results / "tables/reparam.md").read_text()
    c = pd.read_csv(results / "tables/correlation.csv")
    assert {"sharpness", "adaptive_l2", "average", "param_norm"} <= set(c.measure)
    # every trained model that did not diverge (training/divergence.py): F1 SB, LB, LB_remedies,
    # dynamic; C1 SB, LB (2 seeds each); batch sweep 2; warm starts 2. Every remedy at once learns
    # slowly here (13-20% train acc after 2 epochs): on some CPUs a seed meets the twice-chance
    # rule, and the study must then leave it out
    runs = [json.loads(p.read_text()) for p in (results / "runs").glob("*/*/seed*/metrics.json")]
    left_out = [m["regime"] for m in runs if divergence.reason(m) is not None]
    assert set(left_out) <= {"LB_remedies"}, left_out
    assert (c.n[c.measure == "param_norm"] == 4 * 2 + 2 * 2 + 2 + 2 - len(left_out)).all()
    frame = pd.read_csv(results / "correlation/correlation.csv", dtype={"remedy": str})
    assert {("F1", "SB"), ("F1", "LB")} <= set(zip(frame.net, frame.regime))
    assert (results / "figures/correlation_all.png").stat().st_size > 0
    md = (results / "report/REPORT.md").read_text()
    verdict_rows = md.split("## Verdicts", 1)[1].split("## Table 2", 1)[0]
    for claim in ("A sharpness measure predicts the generalization gap better than the parameter",
                  "The LB/SB contrast survives in the measures invariant"):
        assert f"| {claim}" in verdict_rows, claim
        assert verdict_of(md, claim) != "not run", claim
