"""Projected device-hours of `make reproduce` from a benchmark results JSON (bench/run.py).

Every job of the full configuration's DAG (config/config.yaml, schema defaults filled in) is
enumerated the way workflow/rules/*.smk plan them, and costed with the throughputs measured on ONE
device, the one named in the results file. The output is labelled with that device: projected
from a CPU's results it is CPU-hours on that CPU, not GPU-hours.

Cost model (per job; every quantity below is measured by bench/run.py unless marked ESTIMATE):
  train       epochs x [ floor(N/B) x B / train samples/s at B  x remedy factor
                         + (N_train + N_test) / eval samples/s ]          (per-epoch evaluation)
              epochs = train.max_epochs (an UPPER bound: the stopping rule, patience 5, usually
              stops earlier; --epochs sets an expected count instead).
              samples/s at B: the measurement at the nearest measured batch (log scale; SB 256
              and LB 10%, or its capped batch on a CPU --quick run).
              remedy factor (ESTIMATE, from the remedy's arithmetic): proximal = inner_steps
              (that many gradient passes per batch), sam = 2 (two gradients), fgsm = 1 +
              2 x forward / train FLOPs (an input-gradient pass on the batch), augment,
              lr_warmup, ghost_bn = 1 (same FLOPs; the on-device augmentation is not counted).
  sharpness   per (run, space, eps): passes x full-set pass time + time outside the passes, with
              passes and outside time from the measured sharpness computation. Plain regimes get
              every configured space; remedy regimes full space only (the remedies table). The
              subspace's n x 100 matrix A and its normal equations are not counted (ESTIMATE:
              seconds on a GPU).
  hessian     per plain run: (Lanczos matvecs + trace_samples) Hessian-vector products, each
              ~2 full-set passes (double backward, ESTIMATE); Lanczos matvecs: --lanczos-matvecs
              (ESTIMATE, default 60 for k = 5: ARPACK's usual 3-5 restarts of 2k+1 vectors).
  landscape   per net with SB and LB: 2 paths x `points` alphas x (N_train + N_test) forwards.
  slice2d     per plain regime: grid^2 x N_train forwards (landscape.train_size when set).
  Data preparation, figures and tables: not counted (seconds, CPU).
Nets on TIMIT are planned only when datasets.timit.path is set; they are shown, and the totals are
given with and without them.

    python bench/projection.py bench/results/<device>.json [--config config/config.yaml]
           [--epochs N] [--out-md PATH] [--out-json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


REMEDY_FACTORS_DOC = "proximal: inner_steps; sam: 2; fgsm: 1 + 2 fwd/train; others: 1"


def schema_defaults(schema_path: Path) -> dict:
    """Top-level defaults of the blocks this projection reads (train, landscape, sharpness,
    hessian), straight from the schema."""
    schema = yaml.safe_load(schema_path.read_text())
    props = schema["properties"]
    out = {}
    for block in ("train", "landscape", "sharpness", "hessian"):
        out[block] = {k: v["default"] for k, v in props[block].get("properties", {}).items()
                      if isinstance(v, dict) and "default" in v}
    return out


def load_config(path: Path) -> dict:
    cfg = yaml.safe_load(path.read_text())
    defaults = schema_defaults(ROOT / "workflow/schemas/config.schema.yaml")
    for block, d in defaults.items():
        cfg[block] = {**d, **(cfg.get(block) or {})}
    cfg.setdefault("datasets", {})
    return cfg


def rate_at(train: dict, batch: int) -> float:
    """Measured training samples/s at the measured batch nearest to `batch` (log scale)."""
    recs = [r for r in train.values() if r]
    best = min(recs, key=lambda r: abs(math.log(r["batch"] / batch)))
    return best["samples_per_s"]


def remedy_factor(remedy: dict, flops: dict) -> float:
    f = 1.0
    if "proximal" in remedy:
        f *= remedy["proximal"].get("inner_steps", 3)
    if "sam" in remedy:
        f *= 2.0
    if "fgsm" in remedy:
        f *= 1.0 + 2.0 * flops["forward"] / flops["train"]
    return f


def project(results: dict, cfg: dict, epochs: int | None = None,
            lanczos_matvecs: int = 60) -> dict:
    jobs = []
    seeds = cfg["seeds"]
    regimes = cfg["regimes"]
    remedy_regimes = [r for r, spec in regimes.items() if spec.get("remedy")]
    timit_set = bool((cfg["datasets"].get("timit") or {}).get("path"))
    missing = []
    for net, netcfg in cfg["nets"].items():
        if net not in results["nets"]:
            missing.append(net)
            continue
        r = results["nets"][net]
        n_train = netcfg.get("train_size") or r["n_train"]
        n_test = netcfg.get("test_size") or r["n_test"]
        train_cfg = {**cfg["train"], **(netcfg.get("train") or {})}
        net_regimes = [g for g in regimes if netcfg.get("regimes") is None
                       or g in netcfg["regimes"]]
        plain = [g for g in net_regimes if g not in remedy_regimes]
        eval_rate = r["eval"]["samples_per_s"]
        pass_s = r["pass"]["full_pass_s"] * n_train / r["n_train"]
        sh = r["sharpness"]
        sharp_s = sh["passes"] * pass_s + sh["time_outside_s"]
        planned = netcfg["dataset"] != "timit" or timit_set
        for regime in net_regimes:
            spec = regimes[regime]
            batch = spec.get("batch_size") or max(1, round(spec["batch_fraction"] * n_train))
            remedy = {**(spec.get("remedy") or {})}
            factor = remedy_factor(remedy, r["flops"])
            ep = epochs or {**train_cfg, **(spec.get("train") or {})}["max_epochs"]
            epoch_s = (n_train // batch * batch / rate_at(r["train"], batch) * factor
                       + (n_train + n_test) / eval_rate)
            for seed in seeds:
                jobs.append({"stage": "train", "net": net, "regime": regime, "seed": seed,
                             "planned": planned, "seconds": ep * epoch_s,
                             "detail": f"{ep} epochs x {epoch_s:.3g} s (batch {batch}, "
                                       f"factor {factor:.3g})"})
                spaces = cfg["sharpness"]["spaces"] if regime in plain else (
                    ["full"] if regime in remedy_regimes else [])
                for space in spaces:
                    for eps in cfg["sharpness"]["eps"]:
                        jobs.append({"stage": "sharpness", "net": net, "regime": regime,
                                     "seed": seed, "planned": planned, "seconds": sharp_s,
                                     "detail": f"{space} eps {eps}"})
                if regime in plain:
                    hvps = lanczos_matvecs + cfg["hessian"]["trace_samples"]
                    jobs.append({"stage": "hessian", "net": net, "regime": regime, "seed": seed,
                                 "planned": planned, "seconds": hvps * 2 * pass_s,
                                 "detail": f"{hvps} HVPs x 2 passes (ESTIMATE)"})
        lc = cfg["landscape"]
        if {"SB", "LB"} <= set(plain):
            lt = lc.get("train_size") or n_train
            le = lc.get("test_size") or n_test
            jobs.append({"stage": "landscape", "net": net, "regime": "SB+LB", "seed": None,
                         "planned": planned,
                         "seconds": 2 * lc["points"] * (min(lt, n_train) + min(le, n_test))
                         / eval_rate, "detail": f"2 paths x {lc['points']} points"})
        for regime in plain:
            lt = min(lc.get("train_size") or n_train, n_train)
            jobs.append({"stage": "slice2d", "net": net, "regime": regime, "seed": None,
                         "planned": planned,
                         "seconds": lc["slice_grid"] ** 2 * lt / eval_rate,
                         "detail": f"{lc['slice_grid']}^2 points"})
    by_stage, by_net = {}, {}
    for j in jobs:
        key = "planned" if j["planned"] else "unplanned"
        by_stage.setdefault(j["stage"], {"planned": 0.0, "unplanned": 0.0, "jobs": 0})
        by_stage[j["stage"]][key] += j["seconds"]
        by_stage[j["stage"]]["jobs"] += 1
        by_net.setdefault(j["net"], {"planned": j["planned"], "seconds": 0.0, "jobs": 0})
        by_net[j["net"]]["seconds"] += j["seconds"]
        by_net[j["net"]]["jobs"] += 1
    planned_h = sum(j["seconds"] for j in jobs if j["planned"]) / 3600
    all_h = sum(j["seconds"] for j in jobs) / 3600
    return {"device": results["device"], "device_type": results["device_type"],
            "results_date": results["date"], "quick": results["settings"]["quick"],
            "epochs": epochs or "train.max_epochs (upper bound)",
            "lanczos_matvecs": lanczos_matvecs, "missing_nets": missing,
            "timit_planned": timit_set, "jobs": jobs, "by_stage": by_stage, "by_net": by_net,
            "device_hours_planned": planned_h, "device_hours_with_timit": all_h}


def markdown(p: dict) -> str:
    unit = "GPU" if p["device_type"] == "cuda" else "CPU"
    lines = [
        f"### Projected cost of `make reproduce`, computed from measurements on: {p['device']}",
        "",
        f"Device-hours ({unit}-hours on this device; jobs run one per device): "
        f"**{p['device_hours_planned']:.1f} h** for the jobs planned without TIMIT, "
        f"**{p['device_hours_with_timit']:.1f} h** with F2 (TIMIT features supplied). "
        f"Epochs per training: {p['epochs']}. Results of {p['results_date']}"
        + (" (quick run)" if p["quick"] else "") + ".",
        "",
        "| stage | jobs | hours (planned) | hours (F2, needs TIMIT) |",
        "|---|---:|---:|---:|",
    ]
    for stage, v in p["by_stage"].items():
        lines.append(f"| {stage} | {v['jobs']} | {v['planned'] / 3600:.2f} | "
                     f"{v['unplanned'] / 3600:.2f} |")
    lines += ["", "| net | jobs | hours |", "|---|---:|---:|"]
    for net, v in p["by_net"].items():
        lines.append(f"| {net}{'' if v['planned'] else ' (needs TIMIT)'} | {v['jobs']} | "
                     f"{v['seconds'] / 3600:.2f} |")
    if p["missing_nets"]:
        lines += ["", f"Not in the results file (not costed): {', '.join(p['missing_nets'])}."]
    lines += ["", "Cost model and estimates: bench/projection.py (remedy factors: "
              f"{REMEDY_FACTORS_DOC}; Hessian: {p['lanczos_matvecs']} Lanczos matvecs + trace "
              "probes, 2 passes per HVP)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    ap.add_argument("--epochs", type=int, default=None,
                    help="expected epochs per training (default: train.max_epochs, an upper bound)")
    ap.add_argument("--lanczos-matvecs", type=int, default=60)
    ap.add_argument("--out-md", type=Path, default=None)
    ap.add_argument("--out-json", type=Path, default=None)
    args = ap.parse_args(argv)
    results = json.loads(args.results.read_text())
    p = project(results, load_config(args.config), args.epochs, args.lanczos_matvecs)
    md = markdown(p)
    if args.out_md:
        args.out_md.write_text(md)
    if args.out_json:
        args.out_json.write_text(json.dumps(p, indent=1))
    print(md)
    return p


if __name__ == "__main__":
    main()
