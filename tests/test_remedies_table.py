"""The remedies table from synthetic run records, and the config schema's remedy defaults."""

import dataclasses
import json

import pandas as pd
import pytest
import yaml

from sharpminima.analysis.remedies_table import (
    build,
    collect_metrics,
    collect_sharpness,
    remedies_table,
)
from sharpminima.cli import main as cli
from sharpminima.training import remedies

# net F1: per regime, (test accuracies per seed, sharpness at eps 1e-3 per seed)
RUNS = {
    "SB": ([0.90, 0.91, 0.92], [10, 12, 11]),
    "LB": ([0.85, 0.86, 0.85], [500, 520, 510]),
    "LB_augment": ([0.89, 0.90, 0.895], [450, 470, 460]),  # better and still sharp: agrees
    "LB_proximal": ([0.84, 0.86, 0.85], [30, 40, 35]),  # no gain, flat: disagrees
    "LB_fgsm": ([0.85, 0.85, 0.86], [480, 500, 490]),  # no gain: agrees
    "LB_sam": ([0.88, 0.89, 0.88], [100, 90, 95]),  # later remedy: no verdict
}
REMEDY = {"LB_augment": {"augment": {"hflip": False}}, "LB_proximal": {"proximal": {"lam": 1.0}},
          "LB_fgsm": {"fgsm": {"eps": 0.03}}, "LB_sam": {"sam": {"rho": 0.05}}}


def write_records(root):
    metrics, sharp = [], []
    for regime, (accs, sharps) in RUNS.items():
        for seed, (acc, s) in enumerate(zip(accs, sharps)):
            d = root / regime / f"seed{seed}"
            d.mkdir(parents=True)
            spec = {"remedy": REMEDY.get(regime, {})}
            (d / "metrics.json").write_text(json.dumps(
                {"net": "F1", "regime": regime, "dataset": "mnist", "seed": seed,
                 "status": "max_epochs", "batch_size": 6000 if regime != "SB" else 256,
                 "test_acc": acc, "spec": spec}))
            metrics.append(d / "metrics.json")
            for space, eps, value in (("full", 1e-3, s), ("full", 5e-4, s / 4),
                                      ("subspace", 1e-3, 1.0)):
                p = d / f"{space}_eps{eps:g}.json"
                p.write_text(json.dumps({"net": "F1", "regime": regime, "seed": seed,
                                         "dataset": "mnist", "space": space, "eps": eps,
                                         "sharpness": value}))
                sharp.append(p)
    return metrics, sharp


def test_table_rows_changes_and_verdicts(tmp_path):
    metrics, sharp = write_records(tmp_path)
    df = remedies_table(collect_metrics(metrics), collect_sharpness(sharp), "tiny")
    assert list(df.regime) == list(RUNS)  # SB, LB, then the remedies in input order
    by = df.set_index("regime")
    assert by.loc["LB_augment", "test_acc_change_vs_lb"] == pytest.approx(
        100 * (sum(RUNS["LB_augment"][0]) - sum(RUNS["LB"][0])) / 3)
    assert by.loc["LB_augment", "sharpness_eps0.001_ratio_vs_lb"] == pytest.approx(460 / 510)
    assert by.loc["LB_augment", "sharpness_eps0.0005_mean"] == pytest.approx(460 / 4)
    assert by.loc["LB_augment", "ours_agrees"] == "agrees"
    assert by.loc["LB_proximal", "ours_agrees"] == "disagrees"
    assert by.loc["LB_fgsm", "ours_agrees"] == "agrees"
    assert by.loc["LB_sam", "ours_agrees"] == "-" and "Foret" in by.loc["LB_sam", "paper_finding"]
    assert "still sharp" in by.loc["LB_augment", "verdict_detail"]
    assert by.loc["LB", "paper_finding"] == "" and pd.isna(by.loc["LB", "test_acc_change_vs_lb"])
    assert json.loads(by.loc["LB_augment", "options"]) == REMEDY["LB_augment"]


def test_accuracy_only_when_no_sharpness(tmp_path):
    metrics, _ = write_records(tmp_path)
    df = remedies_table(collect_metrics(metrics), collect_sharpness([]), "tiny")
    by = df.set_index("regime")
    assert by.loc["LB_augment", "ours_agrees"] == "agrees (accuracy only)"
    assert "sharpness not measured" in by.loc["LB_augment", "verdict_detail"]


def test_cli_writes_csv_and_markdown(tmp_path):
    metrics, sharp = write_records(tmp_path / "runs")
    out_csv, out_md = tmp_path / "remedies.csv", tmp_path / "remedies.md"
    assert cli.main(["remedies-table", "--metrics", *map(str, metrics), "--sharpness",
                     *map(str, sharp), "--out-csv", str(out_csv), "--out-md", str(out_md),
                     "--scale", "demo", "--reference", "SB", "--baseline", "LB"]) == 0
    assert len(pd.read_csv(out_csv)) == len(RUNS)
    md = out_md.read_text()
    assert "DEMO SCALE" in md and "still sharp" in md and "LB_augment" in md
    assert "sharpness eps 1e-3" in md and "sharpness eps 5e-4" in md and "×0.90" in md
    assert "+4.17" in md
    assert build(metrics, [], out_csv, out_md).shape[0] == len(RUNS)


def test_schema_defaults_match_the_remedy_modules(repo_root):
    schema = yaml.safe_load((repo_root / "workflow/schemas/config.schema.yaml").read_text())
    documented = schema["definitions"]["remedy"]["properties"]
    typed = schema["definitions"]["remedy_options"]["properties"]
    assert set(documented) == set(typed) == set(remedies.REMEDIES)
    for name, (cls, _, _) in remedies.REMEDIES.items():
        fields = {f.name: f.default for f in dataclasses.fields(cls)}
        defaults = {k: v["default"] for k, v in documented[name]["properties"].items()}
        assert defaults == fields, name
        assert set(typed[name]["properties"]) == set(fields), name


@pytest.mark.parametrize("change,message", [
    (lambda c: c["regimes"]["LB_sam"]["remedy"]["sam"].update(radius=1), "radius"),
    (lambda c: c["regimes"]["LB_sam"]["remedy"].update(mixup={}), "mixup"),
    (lambda c: c["nets"]["C1"].update(regimes=["SB", "LB_typo"]), "LB_typo"),
])
def test_bad_remedy_config_is_rejected_with_the_key(tmp_path, repo_root, change, message):
    from workflow_helpers import snakemake, write_config
    cfg = yaml.safe_load((repo_root / "config/demo.yaml").read_text())
    change(cfg)
    proc = snakemake(tmp_path, write_config(tmp_path / "bad.yaml", cfg), "-n", check=False)
    assert proc.returncode != 0 and message in proc.stderr + proc.stdout
