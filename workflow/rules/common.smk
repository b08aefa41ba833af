# Config validation, the experiment grid, and every artifact path: defined once, here.
import json
import sys

from snakemake.utils import validate

from sharpminima.core import configcheck
from sharpminima.core.codehash import code_hash

validate(config, "../schemas/config.schema.yaml", set_default=True)
# Before any job: every batch fits its (subset) training set, the device string is valid.
configcheck.check(config)

# Every verb runs with the interpreter that runs Snakemake (the project's environment), also inside
# SLURM allocations, where the plugin re-runs this same interpreter.
SM = f"{sys.executable} -m sharpminima"
DATA = "data"
RESULTS = "results"
LOGS = f"{RESULTS}/logs"
GPU_LOCKS = ".snakemake/gpu-locks"
REPORT = f"{RESULTS}/report/REPORT.md"


def net_dataset(net):
    return config["nets"][net]["dataset"]


def planned_nets():
    """Nets in config whose data can be obtained; F2 needs user-supplied TIMIT features."""
    nets = []
    for net, spec in config["nets"].items():
        if spec["dataset"] == "timit" and not config["datasets"].get("timit", {}).get("path"):
            print(f"note: {net} skipped: set datasets.timit.path to your TIMIT features "
                  "(format in config/README.md)", file=sys.stderr)
            continue
        nets.append(net)
    return nets


NETS = planned_nets()
REGIMES = list(config["regimes"])
SEEDS = [str(s) for s in config["seeds"]]
# Regimes that train with a remedy of the generalization gap (regimes.<r>.remedy); the others
# (SB, LB, ...) are "plain": the paper's tables, figures and landscapes are about those.
REMEDY_REGIMES = [r for r in REGIMES if config["regimes"][r].get("remedy")]
# Regimes whose batch grows during training (regimes.<r>.batch_schedule, dynamic sampling) and that
# carry no remedy: compared with SB and LB in results/tables/dynamic.{csv,md} (sweeps.smk).
DYNAMIC_REGIMES = [r for r in REGIMES
                   if config["regimes"][r].get("batch_schedule") and r not in REMEDY_REGIMES]


def net_regimes(net, kind="all"):
    """Regimes trained for `net`, in config order: nets.<net>.regimes (default every regime).
    kind: all | plain (no remedy, fixed batch) | remedy | dynamic (growing batch, no remedy)."""
    chosen = config["nets"][net].get("regimes")
    if chosen is not None and set(chosen) - set(REGIMES):
        raise ValueError(f"nets.{net}.regimes names undeclared regime(s) "
                         f"{sorted(set(chosen) - set(REGIMES))}; declared: {REGIMES}")
    regimes = [r for r in REGIMES if chosen is None or r in chosen]
    if kind == "plain":
        return [r for r in regimes if r not in REMEDY_REGIMES and r not in DYNAMIC_REGIMES]
    if kind == "dynamic":
        return [r for r in regimes if r in DYNAMIC_REGIMES]
    if kind == "remedy":
        return [r for r in regimes if r in REMEDY_REGIMES]
    return regimes


wildcard_constraints:
    net="|".join(NETS) or "NONE",
    regime="|".join(REGIMES),
    seed=r"\d+",
    space="full|subspace",
    eps=r"[0-9.e-]+",
    dataset="mnist|fashion_mnist|cifar10|cifar100|timit",


def run_dir(net, regime, seed):
    return f"{RESULTS}/runs/{net}/{regime}/seed{seed}"


def run_files(net, regime, seed):
    d = run_dir(net, regime, seed)
    return {"model": f"{d}/model.pt", "history": f"{d}/history.csv", "metrics": f"{d}/metrics.json"}


def all_runs(kind="metrics", regimes="all"):
    """Files of every planned run (nets x their regimes x seeds); regimes: all | plain | remedy."""
    return [run_files(n, r, s)[kind] for n in NETS for r in net_regimes(n, regimes) for s in SEEDS]


def prepared(dataset):
    return f"{DATA}/prepared/{dataset}.npz"


def dataset_overrides(dataset):
    return json.dumps(config["datasets"].get(dataset, {}), sort_keys=True)


def train_spec(wildcards):
    """The resolved TrainSpec of one run: global train settings < net's < regime's."""
    net, regime = config["nets"][wildcards.net], config["regimes"][wildcards.regime]
    spec = {**config["train"], **net.get("train", {}), **regime.get("train", {})}
    spec.update({k: regime[k] for k in ("batch_size", "batch_fraction", "batch_schedule")
                 if k in regime})
    spec.update(net=wildcards.net, regime=wildcards.regime, seed=int(wildcards.seed))
    remedy = run_remedy(wildcards.net, wildcards.regime)
    if remedy:  # absent for plain regimes, so their spec (and Snakemake's params) is unchanged
        spec["remedy"] = remedy
    speed = {k: v for k, v in config.get("speed", {}).items() if v}
    if speed:  # likewise absent when every speed option is off (the default)
        spec["speed"] = speed
    return json.dumps(spec, sort_keys=True)


def run_remedy(net, regime):
    """The regime's remedies with their options (schema defaults filled in), each overridden by
    nets.<net>.remedy.<name> where the net declares one (e.g. no flips for digits)."""
    overrides = config["nets"][net].get("remedy", {})
    return {name: {**opts, **overrides.get(name, {})}
            for name, opts in config["regimes"][regime].get("remedy", {}).items()}


def size_args(wildcards):
    net = config["nets"][wildcards.net]
    args = [f"--{k.replace('_', '-')} {net[k]}" for k in ("train_size", "test_size") if net.get(k)]
    return " ".join(args)


TABLE_SPACE = {"table3": "full", "table4": "subspace"}


def sharpness_file(net, regime, seed, space, eps):
    eps = eps if isinstance(eps, str) else f"{eps:g}"  # 0.001, 0.0005: one spelling per value
    return f"{RESULTS}/sharpness/{net}/{regime}/seed{seed}/{space}_eps{eps}.json"


def sharpness_options():
    """The sharpness verb's options that every sharpness job shares (Tables 3-4, remedies, sweeps):
    the subspace, L-BFGS-B's iterations and the second maximizer of the box."""
    s = config["sharpness"]
    return (f"--dim {s['subspace_dim']} --a-dist {s['a_dist']} --a-seed {s['a_seed']} "
            f"--iters {s['iters']} --second-maximizer {s['second_maximizer']} "
            f"--sign-steps {s['sign_steps'] or s['iters']} --sign-step {s['sign_step']}")


def sharpness_caption():
    """The choices the paper leaves open, printed in the sharpness tables' captions."""
    s, t = config["sharpness"], config["train"]
    return (f"A for the random subspace: {s['a_dist']} ({s['subspace_dim']} columns, seed "
            f"{s['a_seed']}); L-BFGS-B iterations: {s['iters']}; batch norm: {t['bn']} statistics, "
            f"evaluated in chunks of {s['eval_chunk'] or t['eval_chunk']}; training examples: "
            + (f"first {s['train_size']} of each run's training set" if s["train_size"]
               else "each run's whole training set"))


def figure_code(kind, module="sharpminima.figures.paper_figures"):
    """A param that changes when the figure's own drawing code (or what it uses) changes."""
    return code_hash(module, kind) + code_hash(module, "read_inputs")


def tables():
    names = ["table2", "hessian"] + [t for t, sp in TABLE_SPACE.items()
                                     if sp in config["sharpness"]["spaces"]]
    return [f"{RESULTS}/tables/{n}.{ext}" for n in names for ext in ("csv", "md")]


def all_targets():
    # landscape_targets() and remedies_targets() are defined in landscape.smk and remedies.smk
    # (included later; called only by rule all)
    return (tables() + landscape_targets() + remedies_targets() + [f"{RESULTS}/metrics.json", REPORT]
            + sweep_targets())  # sweep_targets(): sweeps.smk
