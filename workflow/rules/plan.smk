# The plan: which records, tables and figures the configuration asks for, as functions and values
# of the config (no rules: the rule files only declare rules with them and common.smk's paths).
# Included right after common.smk; each section names the rule file whose rules use it.
import random
from pathlib import Path

# ============================================================ sharpness and Hessian (sharpness.smk)


def sharpness_files(nets=None, regimes=None, spaces=None, eps_list=None):
    s = config["sharpness"]
    return [
        sharpness_file(n, r, sd, sp, e)
        for n in (nets or NETS)
        for r in (regimes or net_regimes(n, "plain"))
        for sd in SEEDS
        for sp in (spaces or s["spaces"])
        for e in (eps_list or s["eps"])
    ]


def hessian_files():
    return [hessian_file(n, r, s) for n in NETS for r in net_regimes(n, "plain") for s in SEEDS]


# ======================================================================= landscapes (landscape.smk)

LANDSCAPE_CFG = config["landscape"]
PAIR_REGIMES = ("SB", "LB")  # the regimes whose minimizers Figs. 3 and 7 connect


def pair_seed(net):
    """The seed whose SB and LB runs are the pair of Figs. 3/7 and of the slices of `net`.

    The paper "randomly chose a pair" of its 5 trials; here one draw per net among the configured
    seeds, seeded by landscape.pair_seed (and the net's name), so the choice is reproducible and
    recorded (the `seed` column of every landscape CSV, pair_draw in landscape.json).
    """
    draw = random.Random(f"{LANDSCAPE_CFG['pair_seed']}:{net}")
    return draw.choice(sorted(int(s) for s in SEEDS))


def paired_nets():
    return [n for n in NETS if set(PAIR_REGIMES) <= set(net_regimes(n, "plain"))]


def landscape_targets():
    """Every landscape record and figure, for rule all."""
    out = []
    for net in NETS:
        out += figure_files("fig2", net).values()
        out += [slice_files(net, r)["csv"] for r in net_regimes(net, "plain")]
        out += figure_files("slice2d", net).values()
    for net in paired_nets():
        out += list(landscape_files(net).values())
        out += [f for k in ("fig3", "fig7") for f in figure_files(k, net).values()]
    return out


# ========================================================================== the report (report.smk)

SUMMARY_KINDS = (
    "runs",
    "sharpness",
    "hessian",
    "landscape",
    "sweep_runs",
    "sweep_sharpness",
    "measures",
    "reparam",
)


def collect_inputs():
    """Every JSON record the current configuration plans, by kind (the report's only source)."""
    remedy, dynamic = remedy_table_inputs(), dynamic_inputs()  # sections below
    landscape = [landscape_files(n)["meta"] for n in paired_nets()]  # landscapes above
    landscape += [slice_files(n, r)["meta"] for n in NETS for r in net_regimes(n, "plain")]
    return {
        "runs": all_runs("metrics"),
        "sharpness": sorted(set(sharpness_files() + remedy["sharpness"] + dynamic["sharpness"])),
        "hessian": hessian_files(),
        "landscape": landscape,
        **sweep_records(),
        "measures": measures_files() + sweep_measures_files(),  # beyond the paper (below)
        "reparam": reparam_records("json"),
        "histories": all_runs("history", "plain"),
    }


def report_manifest():
    """What the report reads, by role: the tidy tables, the tables' Markdown, and per figure kind
    its PNGs and the tidy frames it was drawn from. Every path is an input of the report."""
    planned = [(k, n) for n in NETS for k in ("fig2", "slice2d")]
    planned += [(k, n) for n in paired_nets() for k in ("fig3", "fig7")] + sweep_figures()
    figures, frames = {}, {}
    for kind, net in planned:
        figures.setdefault(kind, []).append(figure_files(kind, net)["png"])
    for net in paired_nets():
        frames.setdefault("fig3", []).append(landscape_files(net)["linear"])
        frames.setdefault("fig7", []).append(landscape_files(net)["curvilinear"])
    for net in NETS:
        frames.setdefault("slice2d", []).extend(
            slice_files(net, r)["csv"] for r in net_regimes(net, "plain")
        )
    for kind, net in sweep_figures():
        frames.setdefault(kind, []).append(frame_file(kind, net))
    if beyond_figures():  # the correlation figure, over every net (beyond the paper, below)
        figures["correlation"] = [figure_files("correlation", ALL_NETS)["png"]]
        frames["correlation"] = [CORRELATION_FRAME]
    frames["fig2"] = [summary_file("histories")]
    tables = {Path(t).stem: t for t in tables_all() if t.endswith(".md")}
    return {"summary": SUMMARY, "tables": tables, "figures": figures, "frames": frames}


def tables_all():
    """Every table of the plan (paper tables, remedies, dynamic sampling, beyond the paper)."""
    return tables() + remedies_targets() + dynamic_tables() + beyond_tables()  # sections below


# ========================================================================== remedies (remedies.smk)

REMEDY_REFERENCE, REMEDY_BASELINE = "SB", "LB"  # shown for reference / changes measured against
REMEDY_SPACE = "full"  # the issue's table: full-space sharpness (paper Table 3's metric)


def remedy_nets():
    """Planned nets that train at least one remedy regime."""
    return [n for n in NETS if net_regimes(n, "remedy")]


def remedy_table_regimes(net):
    plain = [r for r in (REMEDY_REFERENCE, REMEDY_BASELINE) if r in net_regimes(net, "plain")]
    return plain + net_regimes(net, "remedy")


def remedy_table_inputs():
    runs = [(n, r, s) for n in remedy_nets() for r in remedy_table_regimes(n) for s in SEEDS]
    return {
        "metrics": [run_file(n, r, s, "metrics") for n, r, s in runs],
        "sharpness": [
            sharpness_file(n, r, s, REMEDY_SPACE, e)
            for n, r, s in runs
            for e in config["sharpness"]["eps"]
        ],
    }


def remedies_targets():
    """The remedies table (a target of rule all), only when some net trains a remedy regime."""
    if not remedy_nets():
        return []
    return list(table_files("remedies").values())


# =============================================================== Section 4 experiments (sweeps.smk)

SWEEP_SB, SWEEP_LB = "SB", "LB"  # the regimes the experiments start from
BATCH_SWEEP = config["batch_sweep"]
WARM = config["warm_start"]
ALONG = config["sharpness_along_training"]
NOISE = config["gradient_noise"]


def _sweep_nets(nets, block):
    """The planned nets among `nets` (F2 without TIMIT drops out); SB and LB must be declared."""
    nets = [n for n in nets if n in NETS]
    missing = {SWEEP_SB, SWEEP_LB} - set(REGIMES)
    if nets and missing:
        raise ValueError(
            f"{block} needs the regimes {sorted(missing)} (declare them under regimes)"
        )
    return nets


def sweep_seeds(block, default="first"):
    """The block's seeds; null: every configured seed ("all") or the first one ("first")."""
    if block["seeds"]:
        return [str(s) for s in block["seeds"]]
    return SEEDS if default == "all" else SEEDS[:1]


BATCH_NETS = _sweep_nets(BATCH_SWEEP["batch_sizes"], "batch_sweep")
WARM_NETS = _sweep_nets(WARM["nets"], "warm_start")
ALONG_NETS = _sweep_nets(ALONG["nets"], "sharpness_along_training")
NOISE_NETS = _sweep_nets(NOISE["nets"], "gradient_noise")
# Every trajectory run keeps the iterates of every epoch any block asks for (one static list, so
# the outputs are plain patterns) and trains exactly to the last of them.
TRAJECTORY_EPOCHS = sorted(
    set(
        (WARM["sb_epochs"] if WARM_NETS else [])
        + (ALONG["epochs"] if ALONG_NETS else [])
        + (NOISE["epochs"] if NOISE_NETS else [])
    )
)


# ----------------------------------------------------------------------------------- specs


def batch_spec(w):
    """SB's spec at another batch size, for a fixed number of epochs (paper: 100)."""
    spec = resolved_spec(w.net, SWEEP_SB, w.seed)
    spec.pop("batch_fraction", None)
    spec.pop("eval_every", None)  # every epoch: the sweeps read their histories per epoch
    spec.update(
        batch_size=int(w.batch),
        regime=f"b{w.batch}",
        max_epochs=BATCH_SWEEP["epochs"],
        patience=BATCH_SWEEP["patience"],
    )
    return json.dumps(spec, sort_keys=True)


def trajectory_spec(w):
    """SB's or LB's spec, run to the last requested checkpoint, keeping every requested iterate,
    with the per-epoch gradient-noise measurement when gradient_noise.scale.chunk is set."""
    spec = resolved_spec(w.net, w.regime, w.seed)
    spec.pop("eval_every", None)  # every epoch: Fig. 6 and B_simple read the history per epoch
    spec.update(
        max_epochs=max([1, *TRAJECTORY_EPOCHS]), patience=None, save_epochs=TRAJECTORY_EPOCHS
    )
    scale = NOISE["scale"]
    if w.net in NOISE_NETS and scale["chunk"]:
        spec.update(
            noise_chunk=scale["chunk"], noise_every=scale["every"], noise_size=scale["train_size"]
        )
    return json.dumps(spec, sort_keys=True)


def warm_spec(w):
    """LB's spec, started from the SB iterate after `epoch` epochs (fresh Adam state)."""
    spec = resolved_spec(w.net, SWEEP_LB, w.seed)
    spec.pop("eval_every", None)  # every epoch, as the other sweeps
    spec.update(
        regime=f"LB_from_SB{w.epoch}",
        max_epochs=WARM["lb_epochs"],
        patience=WARM["patience"],
        init_from=iterate(w.net, SWEEP_SB, w.seed, w.epoch),
    )
    return json.dumps(spec, sort_keys=True)


def sweep_regime(w):
    """The regime whose resolved spec trained a sweep model (sweep_sharpness: its eval_chunk): the
    batch sweep starts from SB's (batch_spec), warm starts from LB's (warm_spec), a trajectory is
    SB's or LB's (trajectory_spec; the first folder of its path below the net)."""
    if w.kind == "batch":
        return SWEEP_SB
    if w.kind == "warmstart":
        return SWEEP_LB
    return w.path.split("/", 1)[0]


# ----------------------------------------------------------------------------------- targets


def batch_runs(net):
    return [
        batch_dir(net, b, s)
        for b in BATCH_SWEEP["batch_sizes"].get(net, [])
        for s in sweep_seeds(BATCH_SWEEP, "all")
    ]


def warm_runs(net):
    return [warm_dir(net, k, s) for k in WARM["sb_epochs"] for s in sweep_seeds(WARM)]


def trajectory_runs(net, block, regimes=(SWEEP_SB, SWEEP_LB)):
    """The trajectory run folders a block uses: its regimes x its seeds."""
    return [trajectory_dir(net, r, s) for r in regimes for s in sweep_seeds(block)]


def batch_sweep_inputs(net):
    runs = batch_runs(net)
    return {
        "metrics": [run_files(d)["metrics"] for d in runs],
        "sharpness": [
            model_sharpness(run_files(d)["model"], BATCH_SWEEP["space"], e)
            for d in runs
            for e in BATCH_SWEEP["eps"]
        ],
    }


def warm_inputs(net):
    runs = warm_runs(net)
    return {
        "histories": [run_files(d)["history"] for d in runs],
        "sharpness": [
            model_sharpness(run_files(d)["model"], WARM["space"], e)
            for d in runs
            for e in WARM["eps"]
        ],
    }


def along_inputs(net):
    keys = [(r, s) for r in (SWEEP_SB, SWEEP_LB) for s in sweep_seeds(ALONG)]
    return {
        "histories": [run_files(d)["history"] for d in trajectory_runs(net, ALONG)],
        "sharpness": [
            model_sharpness(iterate(net, r, s, e), ALONG["space"], eps)
            for r, s in keys
            for e in ALONG["epochs"]
            for eps in ALONG["eps"]
        ],
    }


def noise_spread_inputs(net):
    return [
        noise_file(net, r, s, e)
        for r in (SWEEP_SB, SWEEP_LB)
        for s in sweep_seeds(NOISE)
        for e in NOISE["epochs"]
    ]


def noise_scale_inputs(net):
    return [run_files(d)["history"] for d in trajectory_runs(net, NOISE)]


def dynamic_nets():
    return [n for n in NETS if net_regimes(n, "dynamic")]


def dynamic_inputs():
    runs = [
        (n, r, s)
        for n in dynamic_nets()
        for r in [x for x in (SWEEP_SB, SWEEP_LB) if x in net_regimes(n, "plain")]
        + net_regimes(n, "dynamic")
        for s in SEEDS
    ]
    return {
        "metrics": [run_file(n, r, s, "metrics") for n, r, s in runs],
        "sharpness": [
            sharpness_file(n, r, s, "full", e)
            for n, r, s in runs
            for e in config["sharpness"]["eps"]
        ],
    }


def dynamic_tables():
    """The dynamic-sampling table, when some net trains a dynamic regime."""
    return list(table_files("dynamic").values()) if dynamic_nets() else []


def sweep_figures():
    """(figure kind, net) of every planned Section 4 / noise figure."""
    out = [("fig4", n) for n in BATCH_NETS] + [("fig5", n) for n in WARM_NETS]
    out += [("fig6", n) for n in ALONG_NETS]
    out += [("noise_spread", n) for n in NOISE_NETS]
    if NOISE["scale"]["chunk"]:
        out += [("noise_scale", n) for n in NOISE_NETS]
    return out


def sweep_targets():
    """Every frame, figure and table of this file, for rule all."""
    out = []
    for kind, net in sweep_figures():
        out += [frame_file(kind, net), *figure_files(kind, net).values()]
    return out + dynamic_tables()


def sweep_records():
    """The JSON records of every planned Section 4 job, for the report's tidy tables (collect):
    the metrics.json of each sweep run (trajectories included) and every sharpness record."""
    runs, sharp = [], []
    for net in BATCH_NETS:
        runs += batch_runs(net)
        sharp += batch_sweep_inputs(net)["sharpness"]
    for net in WARM_NETS:
        runs += warm_runs(net) + trajectory_runs(net, WARM, (SWEEP_SB,))
        sharp += warm_inputs(net)["sharpness"]
    for net in ALONG_NETS:
        runs += trajectory_runs(net, ALONG)
        sharp += along_inputs(net)["sharpness"]
    for net in NOISE_NETS:
        runs += trajectory_runs(net, NOISE)
    return {
        "sweep_runs": sorted({run_files(d)["metrics"] for d in runs}),
        "sweep_sharpness": sorted(set(sharp)),
    }


# ============================ beyond the paper: does sharpness explain the gap? (beyond.smk)
# The measures job runs on every trained model that gets a Metric 2.1 record (main runs, batch
# sweep, warm starts), and the correlation study uses them all. A trajectory's iterates (Fig. 6)
# are points along one training, not trained models: no measures job, not in the study.

GM = config["generalization_measures"]
REPARAM = config["reparametrization"]
BEYOND = GM["enabled"]  # generalization_measures.enabled: the whole study on or off


def measures_files():
    """The measures record of every main run (every net x its regimes x seeds)."""
    if not BEYOND:
        return []
    return [measures_file(n, r, s) for n in NETS for r in net_regimes(n) for s in SEEDS]


def sweep_measured_models():
    """The sweep models of the correlation study: the final models of the batch-sweep and
    warm-start runs. Fig. 6's trajectory iterates are points along one training, not trained
    models: they are left out of the study, so they get no measures job."""
    models = [run_files(d)["model"] for n in BATCH_NETS for d in batch_runs(n)]
    models += [run_files(d)["model"] for n in WARM_NETS for d in warm_runs(n)]
    return sorted(set(models))


def sweep_measures_files():
    return [model_measures(m) for m in sweep_measured_models()] if BEYOND else []


def correlation_inputs():
    """metrics.json, Metric 2.1 records and measures records of every trained model of the
    correlation study (the main runs and the final models of the batch sweep and warm starts)."""
    runs = [run_file(n, r, s, "metrics") for n in NETS for r in net_regimes(n) for s in SEEDS]
    planned = set(collect_inputs()["sharpness"])
    eps0 = config["sharpness"]["eps"][0]
    sharp = [
        sharpness_file(n, r, s, "full", eps0)
        for n in NETS
        for r in net_regimes(n)
        for s in SEEDS
        if sharpness_file(n, r, s, "full", eps0) in planned
    ]
    folders = [d for n in BATCH_NETS for d in batch_runs(n)]
    folders += [d for n in WARM_NETS for d in warm_runs(n)]
    runs += [run_files(d)["metrics"] for d in folders]
    models = {run_files(d)["model"] for d in folders}
    sweep = set(sweep_records()["sweep_sharpness"])
    sharp += sorted(
        model_sharpness(m, "full", eps0)
        for m in models
        if model_sharpness(m, "full", eps0) in sweep
    )
    measures = measures_files() + sorted(model_measures(m) for m in models)
    return {"metrics": runs, "sharpness": sharp, "measures": measures}


def reparam_nets():
    """The nets of the reparametrization test: reparametrization.nets (null: every net with SB
    and LB), those planned with both."""
    chosen = REPARAM["nets"]
    return [n for n in paired_nets() if chosen is None or n in chosen] if BEYOND else []


def reparam_runs():
    """(net, regime, seed) of every reparam job: its nets x SB and LB x reparametrization.seeds
    (null: the first configured seed)."""
    return [(n, r, s) for n in reparam_nets() for r in PAIR_REGIMES for s in sweep_seeds(REPARAM)]


def reparam_records(kind):
    return [reparam_files(n, r, s)[kind] for n, r, s in reparam_runs()]


def beyond_tables():
    """The reparametrization and correlation tables the configuration plans."""
    names = (["reparam"] if reparam_runs() else []) + (["correlation"] if BEYOND else [])
    return [f for n in names for f in table_files(n).values()]


def beyond_figures():
    return list(figure_files("correlation", ALL_NETS).values()) if BEYOND else []


def beyond_targets():
    """Every table, frame and figure of this section, for rule all."""
    return beyond_tables() + ([CORRELATION_FRAME] if BEYOND else []) + beyond_figures()
