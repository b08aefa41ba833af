"""Projected device-hours of `make reproduce` from a benchmark results JSON (bench/run.py).

The job list is Snakemake's own: a dry run of the configuration (`snakemake -n -p`, default
config/config.yaml) prints every job with its rule, wildcards, resources and shell command. Every
GPU-tagged job (`resources: gpu=1`) is costed from its command line (`python -m sharpminima VERB
...`) with the throughputs measured on ONE device, the one named in the results file: projected
from a CPU's results, the answer is CPU-hours on that CPU, not GPU-hours, and it says so. A second
dry run with a (dummy) TIMIT path adds the F2 jobs, which are only planned when TIMIT is supplied;
a third switches on the nets the configuration declares but leaves off (nets.<net>.enabled: false,
R18 in config/config.yaml), to cost them before turning them on.

Cost model per verb (measured by bench/run.py unless marked ESTIMATE; N = the job's training
examples, --train-size when given, else the dataset's; M = test examples):
  train      sum over epochs e of [ floor(N/B_e) x B_e / (train samples/s at B_e) x remedy factor
             + (N + M) / (eval samples/s) + gradient-noise columns when noise_chunk is set ]
             epochs = max_epochs: exact when the stopping rule is off (patience null: sweeps,
             trajectories, warm starts), an UPPER bound otherwise (patience 5 usually stops
             earlier; --epochs sets an expected count for those instead). B_e follows
             batch_schedule (dynamic sampling). Samples/s at a batch B: the measurement at the
             nearest measured batch (log scale: SB 256 and LB 10%, or its capped batch in a CPU
             --quick run). Remedy factor (ESTIMATE, from the arithmetic): proximal = inner_steps
             gradient passes per batch, sam = 2, fgsm = 1 + 2 x forward / train FLOPs (an input-
             gradient pass), augment, lr_warmup, ghost_bn = 1 (augmentation kernels not counted).
  sharpness  passes x full-set pass time (scaled to N) + the measured time outside the passes;
             the subspace matrix A (n x 100) and its normal equations are not counted (ESTIMATE:
             seconds on a GPU).
  hessian    (Lanczos matvecs + trace samples) Hessian-vector products x 2 passes each (double
             backward, ESTIMATE); Lanczos matvecs: --lanczos-matvecs (ESTIMATE, default 60 for
             k = 5, i.e. a few ARPACK restarts of 2k + 1 vectors).
  landscape  2 paths x points x (N + M) / eval samples/s.
  slice2d    grid^2 x N / eval samples/s.
  grad-noise repeats x sum over sizes m of N / (train samples/s at m) (forward+backward over N in
             chunks of m; ESTIMATE for m far from the measured batches: small chunks are slower
             per sample, launch-bound on a GPU).
Any other GPU job is listed as not costed. CPU jobs (fetch, prepare, directions, tables, figures,
report) are not costed: seconds each.

    python bench/projection.py bench/results/<device>.json [--config config/config.yaml]
           [--epochs N] [--lanczos-matvecs 60] [--out-md PATH] [--out-json PATH]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from flops import PAPER_DATA  # noqa: E402

#: (training, test) examples of each dataset, from bench/flops.py (TIMIT there: an ASSUMPTION);
#: Fashion-MNIST has MNIST's sizes.
DATASET_SIZES = {d["dataset"]: (d["n_train"], d["n_test"]) for d in PAPER_DATA.values()}
DATASET_SIZES["fashion_mnist"] = DATASET_SIZES["mnist"]
REMEDY_FACTORS_DOC = "proximal: inner_steps; sam: 2; fgsm: 1 + 2 fwd/train; others: 1"


# ------------------------------------------------------------------------------ the dry run

def dry_run(config: Path, workdir: Path) -> str:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
           str(workdir), "--configfile", str(config), "-n", "-p"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake dry run failed:\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def parse_jobs(text: str) -> list[dict]:
    """Jobs of a `snakemake -n -p` printout: rule, wildcards, resources, shell command."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if not m:
            continue
        job = {"rule": m.group(1), "wildcards": {}, "gpu": False, "shell": None}
        for line in block.splitlines():
            s = line.strip()
            if s.startswith("wildcards:"):
                job["wildcards"] = dict(kv.split("=", 1) for kv in s[10:].strip().split(", ")
                                        if "=" in kv)
            elif s.startswith("resources:"):
                job["gpu"] = bool(re.search(r"\bgpu=[1-9]", s))
            elif s.startswith("Shell command:"):
                job["shell"] = s[len("Shell command:"):].strip()
        jobs.append(job)
    return jobs


def cli_args(shell: str) -> tuple[str | None, dict]:
    """(verb, {option: [values]}) of a `python -m sharpminima VERB --opt v ...` command."""
    try:
        words = shlex.split(shell.split(" 2>")[0])
    except ValueError:
        return None, {}
    if "sharpminima" not in words:
        return None, {}
    rest = words[words.index("sharpminima") + 1:]
    if not rest:
        return None, {}
    verb, opts, key = rest[0], {}, None
    for w in rest[1:]:
        if w.startswith("--"):
            key = w[2:]
            opts[key] = []
        elif key is not None:
            opts[key].append(w)
    return verb, opts


# --------------------------------------------------------------------------------- costing

def rate_at(train: dict, batch: int) -> float:
    """Measured training samples/s at the measured batch nearest to `batch` (log scale)."""
    recs = [r for r in train.values() if r]
    return min(recs, key=lambda r: abs(math.log(r["batch"] / batch)))["samples_per_s"]


def remedy_factor(remedy: dict, flops: dict) -> float:
    f = 1.0
    if "proximal" in remedy:
        f *= remedy["proximal"].get("inner_steps", 3)
    if "sam" in remedy:
        f *= 2.0
    if "fgsm" in remedy:
        f *= 1.0 + 2.0 * flops["forward"] / flops["train"]
    return f


class Coster:
    def __init__(self, results: dict, epochs: int | None, lanczos_matvecs: int):
        self.results, self.epochs, self.lanczos = results, epochs, lanczos_matvecs

    def sizes(self, opts: dict, net: str) -> tuple[int, int]:
        data = Path(opts.get("data", [""])[0]).stem
        n, m = DATASET_SIZES.get(data, (self.results["nets"][net]["n_train"],
                                        self.results["nets"][net]["n_test"]))
        n = min(n, int(opts["train-size"][0])) if opts.get("train-size") else n
        m = min(m, int(opts["test-size"][0])) if opts.get("test-size") else m
        return n, m

    def pass_s(self, r: dict, n: int) -> float:
        return r["pass"]["full_pass_s"] * n / r["n_train"]

    def cost(self, job: dict) -> tuple[float | None, str]:
        verb, opts = cli_args(job["shell"] or "")
        if verb == "train":
            spec = json.loads(opts["spec"][0])
            net = spec["net"]
        else:
            net = job["wildcards"].get("net")
        if net not in self.results["nets"]:
            return None, f"net {net} not in the results file"
        r = self.results["nets"][net]
        n, m = self.sizes(opts, net)
        eval_rate = r["eval"]["samples_per_s"]
        if verb == "train":
            from sharpminima.training.train import TrainSpec

            ts = TrainSpec.from_dict(spec)
            epochs = ts.max_epochs if (ts.patience is None or not self.epochs) else min(
                self.epochs, ts.max_epochs)
            factor = remedy_factor(spec.get("remedy") or {}, r["flops"])
            total = 0.0
            for e in range(1, epochs + 1):
                b = ts.batch_for_epoch(e, n)
                total += n // b * b / rate_at(r["train"], b) * factor + (n + m) / eval_rate
                if ts.noise_chunk and e % ts.noise_every == 0:
                    total += min(ts.noise_size or n, n) / rate_at(r["train"], ts.noise_chunk)
            bound = "exact" if ts.patience is None else (
                "expected" if self.epochs else "upper bound")
            return total, f"{epochs} epochs ({bound}), factor {factor:.3g}"
        if verb == "sharpness":
            sh = r["sharpness"]
            return sh["passes"] * self.pass_s(r, n) + sh["time_outside_s"], f"N {n}"
        if verb == "hessian":
            hvps = self.lanczos + int(opts.get("trace-samples", ["20"])[0])
            return hvps * 2 * self.pass_s(r, n), f"{hvps} HVPs (ESTIMATE)"
        if verb == "landscape":
            points = int(opts.get("points", ["25"])[0])
            return 2 * points * (n + m) / eval_rate, f"2 x {points} points"
        if verb == "slice2d":
            grid = int(opts.get("grid", ["21"])[0])
            return grid ** 2 * n / eval_rate, f"{grid}^2 points"
        if verb == "grad-noise":
            sizes = [int(s) for s in opts.get("sizes", [])]
            repeats = int(opts.get("repeats", ["1"])[0])
            return (repeats * sum(n / rate_at(r["train"], s) for s in sizes),
                    f"{repeats} x {len(sizes)} sizes (ESTIMATE)")
        if verb == "measures":
            return self.measures_s(r, opts, n), "worst cases + averages (ESTIMATE)"
        if verb == "reparam":
            alphas = len(opts.get("alphas", ["1"]))
            per_alpha = (r["sharpness"]["passes"] * self.pass_s(r, n) + r["sharpness"][
                "time_outside_s"] + self.measures_s(r, opts, n) + self.lanczos * 2 * self.pass_s(
                r, n))
            return alphas * per_alpha, f"{alphas} alphas x (Metric 2.1 + measures + Lanczos) " \
                "(ESTIMATE)"
        return None, f"no cost model for verb {verb!r}"

    def measures_s(self, r: dict, opts: dict, n: int) -> float:
        """The measures verb: two worst cases of `steps` gradient passes each (over the whole set,
        and again over m_examples when m is set), 2 x `samples` loss passes for the averages."""
        steps = int(opts.get("steps", ["20"])[0])
        samples = int(opts.get("samples", ["20"])[0])
        m_examples = int(opts.get("m-examples", [str(n)])[0]) if "m" in opts else 0
        worst = 2 * (steps + 1) * (self.pass_s(r, n) + self.pass_s(r, min(m_examples, n)))
        return worst + 2 * samples * n / r["eval"]["samples_per_s"]


def project(results: dict, config: Path, epochs: int | None = None,
            lanczos_matvecs: int = 60) -> dict:
    coster = Coster(results, epochs, lanczos_matvecs)
    cfg = yaml.safe_load(config.read_text())
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with_timit = copy.deepcopy(cfg)
        with_timit.setdefault("datasets", {}).setdefault("timit", {})
        if not with_timit["datasets"]["timit"].get("path"):
            with_timit["datasets"]["timit"]["path"] = str(tmp / "timit_features.npz")
        (tmp / "with_timit.yaml").write_text(yaml.safe_dump(with_timit))
        switched_on = copy.deepcopy(cfg)  # every net declared but switched off, on (R18)
        for spec in switched_on.get("nets", {}).values():
            spec.pop("enabled", None)
        (tmp / "switched_on.yaml").write_text(yaml.safe_dump(switched_on))
        for label, path in (("as_configured", config), ("with_timit", tmp / "with_timit.yaml"),
                            ("switched_on", tmp / "switched_on.yaml")):
            (tmp / label).mkdir()
            runs[label] = parse_jobs(dry_run(path, tmp / label))
    out = {"device": results["device"], "device_type": results["device_type"],
           "results_date": results["date"], "quick": results["settings"]["quick"],
           "config": str(config), "epochs": epochs or "max_epochs (upper bound where the "
                                                     "stopping rule is on)",
           "lanczos_matvecs": lanczos_matvecs}
    for label, jobs in runs.items():
        gpu = [j for j in jobs if j["gpu"]]
        by_rule, by_net, uncosted, total = {}, {}, [], 0.0
        for j in gpu:
            seconds, detail = coster.cost(j)
            if seconds is None:
                uncosted.append({"rule": j["rule"], "wildcards": j["wildcards"], "why": detail})
                continue
            total += seconds
            br = by_rule.setdefault(j["rule"], {"jobs": 0, "seconds": 0.0})
            br["jobs"] += 1
            br["seconds"] += seconds
            net = j["wildcards"].get("net", "?")
            bn = by_net.setdefault(net, {"jobs": 0, "seconds": 0.0})
            bn["jobs"] += 1
            bn["seconds"] += seconds
        out[label] = {"jobs_total": len(jobs), "gpu_jobs": len(gpu), "by_rule": by_rule,
                      "by_net": by_net, "uncosted": uncosted, "device_hours": total / 3600}
    return out


def markdown(p: dict) -> str:
    unit = "GPU" if p["device_type"] == "cuda" else "CPU"
    a, t = p["as_configured"], p["with_timit"]
    lines = [
        f"### Projected cost of `make reproduce`, computed from measurements on: {p['device']}",
        "",
        f"{unit}-hours on that device (the GPU-tagged jobs run one per device: also the wall "
        f"time on one such device): **{a['device_hours']:.1f} h** for the "
        f"{a['gpu_jobs']} GPU-tagged jobs planned by {Path(p['config']).name} as shipped, "
        f"**{t['device_hours']:.1f} h** with TIMIT supplied ({t['gpu_jobs']} jobs, adds F2). "
        f"Epochs: {p['epochs']}. From the results of {p['results_date']}"
        + (" (a --quick run)" if p["quick"] else "") + ".",
        "",
        "| rule | jobs | hours | jobs with TIMIT | hours with TIMIT |",
        "|---|---:|---:|---:|---:|",
    ]
    for rule in sorted(set(a["by_rule"]) | set(t["by_rule"]),
                       key=lambda r: -t["by_rule"].get(r, {"seconds": 0})["seconds"]):
        ra, rt = a["by_rule"].get(rule, {"jobs": 0, "seconds": 0}), t["by_rule"].get(rule)
        lines.append(f"| {rule} | {ra['jobs']} | {ra['seconds'] / 3600:.2f} | {rt['jobs']} | "
                     f"{rt['seconds'] / 3600:.2f} |")
    lines += ["", "| net | jobs | hours |", "|---|---:|---:|"]
    for net, v in sorted(t["by_net"].items(), key=lambda kv: -kv[1]["seconds"]):
        lines.append(f"| {net} | {v['jobs']} | {v['seconds'] / 3600:.2f} |")
    on = p["switched_on"]
    added = sorted(set(on["by_net"]) - set(a["by_net"]))
    if added:
        extra = {n: on["by_net"][n] for n in added}
        lines += ["", f"Switched on (nets.<net>.enabled: {', '.join(added)}): "
                      f"**{on['device_hours']:.1f} h** for {on['gpu_jobs']} jobs; "
                      + "; ".join(f"{n} adds {v['jobs']} jobs, {v['seconds'] / 3600:.2f} h"
                                  for n, v in extra.items()) + "."]
    for label, d in (("as configured", a), ("with TIMIT", t), ("switched on", on)):
        if d["uncosted"]:
            reasons: dict[str, int] = {}
            for u in d["uncosted"]:
                reasons[u["why"]] = reasons.get(u["why"], 0) + 1
            lines += ["", f"Not costed ({label}): {len(d['uncosted'])} GPU jobs: "
                          + "; ".join(f"{k} ({v})" for k, v in sorted(reasons.items())) + "."]
    lines += ["", "Cost model and estimates: bench/projection.py (remedy factors: "
              f"{REMEDY_FACTORS_DOC}; Hessian: {p['lanczos_matvecs']} Lanczos matvecs + trace "
              "probes, 2 passes per product)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    ap.add_argument("--epochs", type=int, default=None,
                    help="expected epochs of the trainings with a stopping rule "
                         "(default: their max_epochs, an upper bound)")
    ap.add_argument("--lanczos-matvecs", type=int, default=60)
    ap.add_argument("--out-md", type=Path, default=None)
    ap.add_argument("--out-json", type=Path, default=None)
    args = ap.parse_args(argv)
    results = json.loads(args.results.read_text())
    p = project(results, args.config.resolve(), args.epochs, args.lanczos_matvecs)
    md = markdown(p)
    if args.out_md:
        args.out_md.write_text(md)
    if args.out_json:
        args.out_json.write_text(json.dumps(p, indent=1))
    print(md)
    return p


if __name__ == "__main__":
    main()
