# Config validation, the experiment grid, and every artifact path: defined once, here.
import json
import sys

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml", set_default=True)

# Every verb runs with the interpreter that runs Snakemake (the project's environment), also inside
# SLURM allocations, where the plugin re-runs this same interpreter.
SM = f"{sys.executable} -m sharpminima"
DATA = "data"
RESULTS = "results"
LOGS = f"{RESULTS}/logs"
GPU_LOCKS = ".snakemake/gpu-locks"


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


wildcard_constraints:
    net="|".join(NETS) or "NONE",
    regime="|".join(REGIMES),
    seed=r"\d+",
    dataset="mnist|fashion_mnist|cifar10|cifar100|timit",


def run_dir(net, regime, seed):
    return f"{RESULTS}/runs/{net}/{regime}/seed{seed}"


def run_files(net, regime, seed):
    d = run_dir(net, regime, seed)
    return {"model": f"{d}/model.pt", "history": f"{d}/history.csv", "metrics": f"{d}/metrics.json"}


def all_runs(kind="metrics"):
    return [run_files(n, r, s)[kind] for n in NETS for r in REGIMES for s in SEEDS]


def prepared(dataset):
    return f"{DATA}/prepared/{dataset}.npz"


def dataset_overrides(dataset):
    return json.dumps(config["datasets"].get(dataset, {}), sort_keys=True)


def train_spec(wildcards):
    """The resolved TrainSpec of one run: global train settings < net's < regime's."""
    net, regime = config["nets"][wildcards.net], config["regimes"][wildcards.regime]
    spec = {**config["train"], **net.get("train", {}), **regime.get("train", {})}
    spec.update({k: regime[k] for k in ("batch_size", "batch_fraction") if k in regime})
    spec.update(net=wildcards.net, regime=wildcards.regime, seed=int(wildcards.seed))
    return json.dumps(spec, sort_keys=True)


def size_args(wildcards):
    net = config["nets"][wildcards.net]
    args = [f"--{k.replace('_', '-')} {net[k]}" for k in ("train_size", "test_size") if net.get(k)]
    return " ".join(args)


def tables():
    return [f"{RESULTS}/tables/table2.{ext}" for ext in ("csv", "md")]


def all_targets():
    # landscape_targets() is defined in landscape.smk (included later; called only by rule all)
    return tables() + landscape_targets()
