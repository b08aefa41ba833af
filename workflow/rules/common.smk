# Config validation, the experiment grid, every artifact and log path, and the rule pieces that
# several rules share (the train job, the sharpness job, the figure rule, the subset sizes, the
# evaluation chunk): each defined once, here. The other .smk files only declare rules with them.
import json
import os
import sys

from snakemake.utils import validate

from sharpminima.core import configcheck
from sharpminima.core.codehash import code_hash
from sharpminima.core.layout import eps_text
from sharpminima.figures.registry import MODULE_OF as FIGURE_MODULE

validate(config, "../schemas/config.schema.yaml", set_default=True)
# Before any job: every batch fits its (subset) training set, the device string is valid, every
# net's dataset is known; every network of the user's own (nets.<net>.builder) builds a module
# with the right number of logits (checked on one example: imports torch only when there is one).
configcheck.check(config)
if any(spec.get("builder") for spec in config["nets"].values()):
    from sharpminima.nets.builders import check_config as check_builders

    check_builders(config)


# Every verb runs with the interpreter that runs Snakemake (the project's environment), also inside
# SLURM allocations, where the plugin re-runs this same interpreter: its folder goes first on PATH,
# so that the command itself names no machine path (a param holding one would rerun every job
# after the environment moves, e.g. on a colleague's machine after `make pull`).
envvars:
    "PATH",


os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
# The software environment of every rule under `--software-deployment-method conda`, relative to
# workflow/rules/ (where all rules are declared). It holds environment.yml's pins; its post-deploy
# script installs this project into it from SHARPMINIMA_SOURCE (set here: the repository root).
# With conda, `python` in the shell commands is that environment's (activated first on PATH).
CONDA_ENV = "../envs/sharpminima.yaml"
os.environ.setdefault("SHARPMINIMA_SOURCE", workflow.basedir)
# The annotated defaults: the report lists every value their comments mark ASSUMPTION.
ANNOTATED_CONFIG = os.path.relpath(os.path.join(workflow.basedir, "config/config.yaml"))
SM = f"{os.path.basename(sys.executable)} -m sharpminima"  # e.g. "python -m sharpminima"
DATA = "data"
RESULTS = "results"
LOGS = f"{RESULTS}/logs"
GPU_LOCKS = ".snakemake/gpu-locks"


def net_dataset(net):
    return config["nets"][net]["dataset"]


def planned_nets():
    """Nets in config that are switched on (nets.<net>.enabled) and whose data can be obtained
    (F2 needs user-supplied TIMIT features): configcheck's rule, with a note for each net that
    waits for its data."""
    nets = configcheck.planned_nets(config)
    for net, spec in config["nets"].items():
        if net not in nets and spec.get("enabled", True):
            print(
                f"note: {net} skipped: set datasets.{spec['dataset']}.path to your "
                f"{spec['dataset']} file (format in config/README.md)",
                file=sys.stderr,
            )
    return nets


NETS = planned_nets()


def net_builders():
    """nets.<net>.builder of every planned net that has one, described for its training spec: the
    reference, the init (nets.<net>.init) and the hash of the builder's source, so that editing
    the builder reruns exactly that net's trainings (the spec is their param) and what follows."""
    chosen = [net for net in NETS if config["nets"][net].get("builder")]
    if not chosen:
        return {}
    from sharpminima.nets.builders import describe

    return {
        net: describe(config["nets"][net]["builder"], config["nets"][net].get("init", "glorot"))
        for net in chosen
    }


NET_BUILDERS = net_builders()
REGIMES = list(config["regimes"])
SEEDS = [str(s) for s in config["seeds"]]
# Regimes that train with a remedy of the generalization gap (regimes.<r>.remedy); the others
# (SB, LB, ...) are "plain": the paper's tables, figures and landscapes are about those.
REMEDY_REGIMES = [r for r in REGIMES if config["regimes"][r].get("remedy")]
# Regimes whose batch grows during training (regimes.<r>.batch_schedule, dynamic sampling) and that
# carry no remedy: compared with SB and LB in results/tables/dynamic.{csv,md} (sweeps.smk).
DYNAMIC_REGIMES = [
    r for r in REGIMES if config["regimes"][r].get("batch_schedule") and r not in REMEDY_REGIMES
]


def net_regimes(net, kind="all"):
    """Regimes trained for `net`, in config order: nets.<net>.regimes (default every regime).
    kind: all | plain (no remedy, fixed batch) | remedy | dynamic (growing batch, no remedy)."""
    chosen = config["nets"][net].get("regimes")
    if chosen is not None and set(chosen) - set(REGIMES):
        raise ValueError(
            f"nets.{net}.regimes names undeclared regime(s) "
            f"{sorted(set(chosen) - set(REGIMES))}; declared: {REGIMES}"
        )
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
    dataset="|".join([*configcheck.REGISTRY_DATASETS, *config["datasets"]]),


# ============================================================================== paths
# Every file the workflow reads or writes, and every log, is spelled here and only here. Called with
# "{net}"-style arguments they give the rules' patterns, with values the concrete files.

# ---- data


def user_data_file(wildcards):
    """The user's own data file of a dataset (datasets.<name>.path: TIMIT's features or a dataset
    of the user's own), an input of its fetch, so that rewriting it reruns fetch, prepare and
    everything downstream. [] for downloaded datasets, and while the file does not exist: fetch
    then says what is expected there."""
    path = (config["datasets"].get(wildcards.dataset) or {}).get("path")
    return [os.path.expanduser(path)] if path and os.path.isfile(os.path.expanduser(path)) else []


def raw_manifest(dataset):
    return f"{DATA}/raw/{dataset}/MANIFEST.json"


def prepared(dataset):
    return f"{DATA}/prepared/{dataset}.npz"


# ---- training runs: the pipeline's (runs/) and the Section 4 sweeps' (sweeps/)


def run_files(folder):
    """The files every training run writes in its folder (sharpminima.core.layout), for the
    pipeline's runs (run_dir) and the sweeps' (batch_dir, trajectory_dir, warm_dir) alike."""
    return {
        "model": f"{folder}/model.pt",
        "history": f"{folder}/history.csv",
        "metrics": f"{folder}/metrics.json",
    }


def run_dir(net, regime, seed):
    return f"{RESULTS}/runs/{net}/{regime}/seed{seed}"


def run_file(net, regime, seed, kind="model"):
    """One file of the pipeline's run of (net, regime, seed): model | history | metrics."""
    return run_files(run_dir(net, regime, seed))[kind]


SWEEPS = f"{RESULTS}/sweeps"
SWEEP_KINDS = ("batch", "warmstart", "trajectory")  # the folders of sweeps/ that hold runs


def batch_dir(net, batch, seed):
    return f"{SWEEPS}/batch/{net}/b{batch}/seed{seed}"


def trajectory_dir(net, regime, seed):
    return f"{SWEEPS}/trajectory/{net}/{regime}/seed{seed}"


def warm_dir(net, epoch, seed):
    return f"{SWEEPS}/warmstart/{net}/from{epoch}/seed{seed}"


def iterate(net, regime, seed, epoch):
    return f"{trajectory_dir(net, regime, seed)}/iterates/epoch{epoch}.pt"


def sweep_model(kind, net, path):
    """A model file under sweeps/<kind>/<net>/: a run's model.pt or a kept iterate."""
    return f"{SWEEPS}/{kind}/{net}/{path}.pt"


# ---- measurements


def sharpness_file(net, regime, seed, space, eps):
    return f"{RESULTS}/sharpness/{net}/{regime}/seed{seed}/{space}_eps{eps_text(eps)}.json"


def model_sharpness(model, space, eps):
    """The sharpness record of a sweep's model file: beside it, named after it."""
    return f"{model[:-len('.pt')]}.sharpness_{space}_eps{eps_text(eps)}.json"


def hessian_file(net, regime, seed):
    return f"{RESULTS}/hessian/{net}/{regime}/seed{seed}.json"


def measures_file(net, regime, seed):
    """The `measures` record (beyond the paper: adaptive and average-case sharpness, baselines)."""
    return f"{RESULTS}/measures/{net}/{regime}/seed{seed}.json"


def model_measures(model):
    """The `measures` record of a sweep's model file: beside it, named after it."""
    return f"{model[:-len('.pt')]}.measures.json"


def reparam_files(net, regime, seed):
    """The reparametrization test of one run: one row per alpha (CSV) and the JSON record."""
    stem = f"{RESULTS}/reparam/{net}/{regime}/seed{seed}"
    return {"csv": f"{stem}.csv", "json": f"{stem}.json"}


def noise_file(net, regime, seed, epoch):
    return iterate(net, regime, seed, epoch)[: -len(".pt")] + ".noise.csv"


LANDSCAPE_DIR = f"{RESULTS}/landscape"


def landscape_files(net):
    d = f"{LANDSCAPE_DIR}/{net}"
    return {
        "linear": f"{d}/linear.csv",
        "curvilinear": f"{d}/curvilinear.csv",
        "meta": f"{d}/landscape.json",
    }


def slice_files(net, regime):
    d = f"{LANDSCAPE_DIR}/{net}/{regime}"
    return {
        "directions": f"{d}/directions.pt",
        "csv": f"{d}/slice2d.csv",
        "meta": f"{d}/slice2d.json",
    }


# ---- frames, figures, tables, summaries

SWEEP_FRAMES = {
    "fig4": "batch",
    "fig5": "warmstart",
    "fig6": "trajectory",
    "noise_spread": "trajectory",
    "noise_scale": "trajectory",
}


def frame_file(kind, net):
    """The tidy CSV a Section 4 figure is drawn from, beside the runs it summarizes."""
    return f"{SWEEPS}/{SWEEP_FRAMES[kind]}/{net}/{kind}.csv"


CORRELATION_FRAME = f"{RESULTS}/correlation/correlation.csv"  # the correlation figure's frame
ALL_NETS = "all"  # the {net} of a figure drawn over every net (the correlation figure)
FIGURE_DIR = f"{RESULTS}/figures"


def figure_stem(kind, net):
    return f"{FIGURE_DIR}/{kind}_{net}"


def figure_files(kind, net):
    return {ext: f"{figure_stem(kind, net)}.{ext}" for ext in ("png", "pdf")}


def table_files(name):
    return {ext: f"{RESULTS}/tables/{name}.{ext}" for ext in ("csv", "md")}


def table_outputs(name):
    """A table's CSV and Markdown; the CSV registered for `snakemake --report` (shown as a table,
    captioned with the table's caption)."""
    files = table_files(name)
    csv = report(
        files["csv"], caption="../report/table.rst", category="Tables", labels={"table": name}
    )
    return dict(csv=csv, md=files["md"])


METRICS = f"{RESULTS}/metrics.json"
REPORT = f"{RESULTS}/report/REPORT.md"
REPORT_HTML = f"{RESULTS}/report/REPORT_standalone.html"  # beside Snakemake's report.html
REPORT_RST = f"{RESULTS}/report/snakemake_report.rst"  # what workflow/report/*.rst include
SUMMARY = f"{RESULTS}/summary"
SUMMARY_CURVES = f"{SUMMARY}/curves"
SUMMARY_MANIFEST = f"{SUMMARY}/manifest.json"


def summary_file(kind):
    return f"{SUMMARY}/{kind}.csv"


# ---- logs: one per job, named by rule (patterns with the rule's wildcards)

LOG_PATTERNS = {
    "fetch": "fetch/{dataset}",
    "prepare": "prepare/{dataset}",
    "train": "train/{net}/{regime}/seed{seed}",
    "sharpness": "sharpness/{net}/{regime}/seed{seed}/{space}_eps{eps}",
    "hessian": "hessian/{net}/{regime}/seed{seed}",
    "sharpness_table": "tables/{table}",
    "hessian_table": "tables/hessian",
    "landscape": "landscape/{net}",
    "slice_directions": "landscape/{net}/{regime}/directions",
    "slice2d": "landscape/{net}/{regime}/slice2d",
    "fig2": "figures/fig2_{net}",
    "fig3": "figures/fig3_{net}",
    "fig7": "figures/fig7_{net}",
    "slice2d_figure": "figures/slice2d_{net}",
    "remedies_table": "tables/remedies",
    "sweep_batch_train": "sweeps/batch/{net}/b{batch}/seed{seed}",
    "trajectory_train": "sweeps/trajectory/{net}/{regime}/seed{seed}",
    "warmstart_train": "sweeps/warmstart/{net}/from{epoch}/seed{seed}",
    "sweep_sharpness": "sweeps/{kind}/{net}/{path}.sharpness_{space}_eps{eps}",
    "grad_noise": "sweeps/noise/{net}/{regime}/seed{seed}/epoch{epoch}",
    "fig4_frame": "sweeps/frames/fig4_{net}",
    "fig5_frame": "sweeps/frames/fig5_{net}",
    "fig6_frame": "sweeps/frames/fig6_{net}",
    "noise_spread_frame": "sweeps/frames/noise_spread_{net}",
    "noise_scale_frame": "sweeps/frames/noise_scale_{net}",
    "fig4_figure": "figures/fig4_{net}",
    "fig5_figure": "figures/fig5_{net}",
    "fig6_figure": "figures/fig6_{net}",
    "noise_spread_figure": "figures/noise_spread_{net}",
    "noise_scale_figure": "figures/noise_scale_{net}",
    "dynamic_table": "tables/dynamic",
    "measures": "measures/{net}/{regime}/seed{seed}",
    "sweep_measures": "sweeps/{kind}/{net}/{path}.measures",
    "reparam": "reparam/{net}/{regime}/seed{seed}",
    "reparam_table": "tables/reparam",
    "correlation_table": "tables/correlation",
    "correlation_figure": "figures/correlation",
    "table2": "tables/table2",
    "summary": "summary",
    "collect": "collect",
    "report": "report",
}


def log_file(rule):
    return f"{LOGS}/{LOG_PATTERNS[rule]}.log"


# ============================================================================== settings


def dataset_overrides(dataset):
    return json.dumps(config["datasets"].get(dataset, {}), sort_keys=True)


def train_settings(net, regime):
    """The train block of one (net, regime): global train settings < net's < regime's."""
    return {
        **config["train"],
        **config["nets"][net].get("train", {}),
        **config["regimes"][regime].get("train", {}),
    }


def resolved_spec(net, regime, seed):
    """The resolved TrainSpec (a dict) of the pipeline's run of (net, regime, seed); the sweeps
    (sweeps.smk) start from SB's and LB's."""
    regime_cfg = config["regimes"][regime]
    spec = train_settings(net, regime)
    spec.update(
        {
            k: regime_cfg[k]
            for k in ("batch_size", "batch_fraction", "batch_schedule")
            if k in regime_cfg
        }
    )
    spec.update(net=net, regime=regime, seed=int(seed))
    remedy = run_remedy(net, regime)
    if remedy:  # absent for plain regimes, so their spec (and Snakemake's params) is unchanged
        spec["remedy"] = remedy
    speed = {k: v for k, v in config.get("speed", {}).items() if v}
    if speed:  # likewise absent when every speed option is off (the default)
        spec["speed"] = speed
    if net in NET_BUILDERS:  # a network of the user's own: its builder, with its source's hash
        spec["builder"] = NET_BUILDERS[net]
    return spec


def train_spec(wildcards):
    """The resolved TrainSpec of one run, as the train verb's --spec."""
    return json.dumps(
        resolved_spec(wildcards.net, wildcards.regime, wildcards.seed), sort_keys=True
    )


def run_remedy(net, regime):
    """The regime's remedies with their options (schema defaults filled in), each overridden by
    nets.<net>.remedy.<name> where the net declares one (e.g. no flips for digits)."""
    overrides = config["nets"][net].get("remedy", {})
    return {
        name: {**opts, **overrides.get(name, {})}
        for name, opts in config["regimes"][regime].get("remedy", {}).items()
    }


GENERALIZATION = "generalization_measures"  # the stage of the measures and reparam jobs
# the stages nets.<net>.measure_train_size cuts
MEASURE_STAGES = ("sharpness", "hessian", GENERALIZATION)


def subset_args(net, stage=None, splits=("train", "test")):
    """--train-size / --test-size of a job on `net`: the run's own subset (nets.<net>.train_size,
    test_size), cut further by the stage's <split>_size (stage: sharpness | hessian | landscape |
    gradient_noise | generalization_measures; None for training) and, for sharpness, Hessian and
    the generalization measures, by nets.<net>.measure_train_size. The smallest applies; ""
    when none is set."""
    spec = config["nets"][net]
    args = []
    for split in splits:
        sizes = [spec.get(f"{split}_size")]
        if stage is not None:
            sizes.append(config[stage].get(f"{split}_size"))
        if stage in MEASURE_STAGES and split == "train":
            sizes.append(spec.get("measure_train_size"))
        sizes = [n for n in sizes if n]
        if sizes:
            args.append(f"--{split}-size {min(sizes)}")
    return " ".join(args)


def eval_chunk(stage, net, *regimes):
    """Examples per evaluation chunk of a measurement (stage: sharpness | hessian | landscape) of
    models of `net` trained in `regimes`: <stage>.eval_chunk, else the chunk the runs were trained
    and evaluated with (train.eval_chunk, resolved global < net < regime). With batch-statistics BN
    the chunk is part of the definition of f, so by default a measurement uses its run's. The one
    rule for every measurement (sharpness, Hessian, landscapes, slices, sweeps). A measurement of
    several runs (the SB-LB landscape) evaluates one f: their chunks must agree, or the stage's
    eval_chunk must choose one."""
    chosen = config[stage]["eval_chunk"]
    if chosen:
        return chosen
    chunks = sorted({train_settings(net, r)["eval_chunk"] for r in regimes})
    if len(chunks) != 1:
        raise ValueError(
            f"{stage} of {net}: the regimes {list(regimes)} train with different "
            f"train.eval_chunk {chunks}, and one evaluation needs one chunk: "
            f"set {stage}.eval_chunk"
        )
    return chunks[0]


def sharpness_options():
    """The sharpness verb's options that every sharpness job shares (Tables 3-4, remedies, sweeps):
    the subspace, L-BFGS-B's iterations and the second maximizer of the box."""
    s = config["sharpness"]
    return (
        f"--dim {s['subspace_dim']} --a-dist {s['a_dist']} --a-seed {s['a_seed']} "
        f"--iters {s['iters']} --second-maximizer {s['second_maximizer']} "
        f"--sign-steps {s['sign_steps'] or s['iters']} --sign-step {s['sign_step']}"
    )


def generalization_options():
    """The measures verb's options (generalization_measures.*) that the measures and reparam jobs
    share; --m and --m-examples only where set (null: no m-sharpness, all examples)."""
    g = config[GENERALIZATION]
    opts = (
        f"--rho-linf {g['rho_linf']} --rho-l2 {g['rho_l2']} --eta {g['eta']} "
        f"--steps {g['steps']} --step {g['step']} --sigma {g['sigma']} "
        f"--sigma-adaptive {g['sigma_adaptive']} --samples {g['samples']} --seed {g['seed']}"
    )
    for key in ("m", "m_examples"):
        if g[key] is not None:
            opts += f" --{key.replace('_', '-')} {g[key]}"
    return opts


def sharpness_caption():
    """The choices the paper leaves open, printed in the sharpness tables' captions."""
    s, t = config["sharpness"], config["train"]
    chunks = sorted({eval_chunk("sharpness", n, r) for n in NETS for r in net_regimes(n, "plain")})
    chunk_text = ", ".join(str(c) for c in chunks) or str(s["eval_chunk"] or t["eval_chunk"])
    return (
        f"A for the random subspace: {s['a_dist']} ({s['subspace_dim']} columns, seed "
        f"{s['a_seed']}); L-BFGS-B iterations: {s['iters']}; batch norm: {t['bn']} statistics, "
        f"evaluated in chunks of {chunk_text}; training examples: "
        + (
            f"first {s['train_size']} of each run's training set"
            if s["train_size"]
            else "each run's whole training set"
        )
    )


# ============================================================================== shared rule pieces
# Rules use them as `params: **train_params(...)` and `shell: TRAIN_SHELL`. Every shell command
# reads what it needs from the rule's params (sm: the interpreter and package, gpu_locks), never
# from a global.


def gpu_params():
    """The params of every GPU-tagged job: device, interpreter, GPU lock folder."""
    return dict(device=config["device"], sm=SM, gpu_locks=GPU_LOCKS)


# ---- the train job (train.smk: train; sweeps.smk: sweep_batch_train, trajectory_train, warmstart_train)

TRAIN_SHELL = (
    "{params.sm} train --data {input.data} --spec {params.spec:q} {params.sizes} "
    "--out-dir $(dirname {output.metrics}) --device {params.device} --threads {threads} "
    "--gpu-lock-dir {params.gpu_locks} 2> {log}"
)


def train_params(spec):
    """spec(wildcards): the TrainSpec JSON of the run (train_spec, or a sweep's)."""
    return dict(spec=spec, sizes=lambda w: subset_args(w.net), **gpu_params())


# ---- the sharpness job (sharpness.smk: sharpness; sweeps.smk: sweep_sharpness)

SHARPNESS_SHELL = (
    "{params.sm} sharpness --model {input.model} --data {input.data} {params.size} "
    "--eps {wildcards.eps} --space {wildcards.space} {params.options} "
    "--chunk {params.chunk} --out {output} --device {params.device} --threads {threads} "
    "--gpu-lock-dir {params.gpu_locks} 2> {log}"
)


def sharpness_params(regime_of):
    """regime_of(wildcards): the regime whose training produced the measured model (its
    eval_chunk is the measurement's, eval_chunk)."""
    return dict(
        size=lambda w: subset_args(w.net, "sharpness", ("train",)),
        chunk=lambda w: eval_chunk("sharpness", w.net, regime_of(w)),
        options=sharpness_options(),
        **gpu_params(),
    )


# ---- the measures job (beyond.smk: measures, sweep_measures)

MEASURES_SHELL = (
    "{params.sm} measures --model {input.model} --data {input.data} {params.size} "
    "{params.options} --chunk {params.chunk} --out {output} --device {params.device} "
    "--threads {threads} --gpu-lock-dir {params.gpu_locks} 2> {log}"
)


def measures_params(regime_of):
    """regime_of(wildcards): the regime whose training produced the measured model (as
    sharpness_params)."""
    return dict(
        size=lambda w: subset_args(w.net, GENERALIZATION, ("train",)),
        chunk=lambda w: eval_chunk(GENERALIZATION, w.net, regime_of(w)),
        options=generalization_options(),
        **gpu_params(),
    )


# ---- the figures (landscape.smk: fig2, fig3, fig7, slice2d_figure; sweeps.smk: *_figure)
# The input a figure is drawn from is named `inputs`; figures are per net ({net}).

FIGURE_SHELL = (
    "{params.sm} figure {params.kind} --inputs {input.inputs} "
    "--out-stem {params.stem} --scale {params.scale} 2> {log}"
)
FIGURE_TEXT = {  # kind: (caption in workflow/report/, report category)
    "fig2": ("fig2.rst", "Fig. 2: accuracy during training"),
    "fig3": ("fig3.rst", "Fig. 3: linear interpolation SB to LB"),
    "fig7": ("fig7.rst", "Fig. 7: curvilinear path SB to LB"),
    "slice2d": ("slice2d.rst", "2-D loss slices (beyond the paper)"),
    "fig4": ("fig4.rst", "Fig. 4: batch-size sweep"),
    "fig5": ("fig5.rst", "Fig. 5: warm-started LB training"),
    "fig6": ("fig6.rst", "Fig. 6: sharpness along training"),
    "noise_spread": ("noise.rst", "Gradient noise vs batch size"),
    "noise_scale": ("noise_scale.rst", "Gradient noise scale along training"),
    "correlation": ("correlation.rst", "Does sharpness predict the gap? (beyond the paper)"),
}


def figure_code(kind):
    """A param that changes when the figure's own drawing code (or what it uses) changes, or the
    reader of its inputs (sharpminima.figures.registry: the module that draws each kind)."""
    return code_hash(FIGURE_MODULE[kind], kind) + code_hash(
        "sharpminima.figures.registry", "read_inputs"
    )


def figure_outputs(kind, net="{net}"):
    """PNG and PDF of one figure of {net} (or of every net: ALL_NETS), both registered for
    `snakemake --report`."""
    caption, category = FIGURE_TEXT[kind]
    # (one line: Snakemake's parser reads a line that starts with `report(` as the report: keyword)
    opts = dict(caption=f"../report/{caption}", category=category, subcategory=net)
    return [report(path, **opts) for path in figure_files(kind, net).values()]


def figure_params(kind, net=None):
    """net: a fixed net (ALL_NETS) for a figure over every net; None: the {net} wildcard."""
    return dict(
        kind=kind,
        code=figure_code(kind),
        stem=lambda w: figure_stem(kind, net or w.net),
        scale=config["scale"],
        sm=SM,
    )


# ============================================================================== targets

TABLE_SPACE = {"table3": "full", "table4": "subspace"}


def all_runs(kind="metrics", regimes="all"):
    """Files of every planned run (nets x their regimes x seeds); regimes: all | plain | remedy."""
    return [run_file(n, r, s, kind) for n in NETS for r in net_regimes(n, regimes) for s in SEEDS]


def sharpness_tables():
    """The sharpness tables of the configured spaces (Table 3: full space, Table 4: subspace)."""
    return [t for t, sp in TABLE_SPACE.items() if sp in config["sharpness"]["spaces"]]


def tables():
    names = ["table2", "hessian"] + sharpness_tables()
    return [f for n in names for f in table_files(n).values()]


def all_targets():
    # landscape_targets(), remedies_targets(), sweep_targets() and beyond_targets() are defined in
    # plan.smk (included next; called only by rule all and the report)
    return (
        tables()
        + landscape_targets()
        + remedies_targets()
        + [METRICS, REPORT]
        + sweep_targets()
        + beyond_targets()
    )
