# The paper's Section 4 experiments and what motivates them, each declared by a config block:
#   batch_sweep               Fig. 4: test accuracy and sharpness vs batch size
#   warm_start                Fig. 5: LB runs warm-started from SB iterates ("piggybacking")
#   sharpness_along_training  Fig. 6: sharpness vs training loss at checkpoints of SB and LB training
#   gradient_noise            spread of minibatch gradients vs m (the O(sqrt(m)) point) at checkpoints,
#                             and the gradient noise scale B_simple along SB and LB training
#   regimes.<r>.batch_schedule  dynamic sampling (the paper's proposed remedy): results/tables/dynamic
# Every training is the `train` verb (the one training loop) with a spec built here from the SB / LB
# regimes' resolved spec; every sharpness is the `sharpness` verb. Runs live in their own folders:
#   results/sweeps/batch/{net}/b{batch}/seed{seed}/              batch-size sweep
#   results/sweeps/trajectory/{net}/{regime}/seed{seed}/         SB and LB runs of a fixed length that
#       keep their iterates (iterates/epoch{e}.pt; e = 0 is x0) for Figs. 5 and 6 and the noise
#       checkpoints, and record B_simple per epoch in history.csv (no early stopping)
#   results/sweeps/warmstart/{net}/from{epoch}/seed{seed}/       LB from the SB iterate of that epoch
# Measurements sit beside what they measure: <model>.sharpness_<space>_eps<eps>.json,
# iterates/epoch{e}.noise.csv. Tidy frames (results/sweeps/**/{fig4,fig5,fig6,noise_*}.csv) feed the
# figures. Training and measurement rules are GPU-tagged; frames and figures run on the CPU.
# Paths: common.smk (batch_dir, trajectory_dir, warm_dir, iterate, model_sharpness, noise_file,
# frame_file); the training and sharpness jobs and the figure rule: common.smk's shared pieces.

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
        raise ValueError(f"{block} needs the regimes {sorted(missing)} (declare them under regimes)")
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
TRAJECTORY_EPOCHS = sorted(set((WARM["sb_epochs"] if WARM_NETS else [])
                               + (ALONG["epochs"] if ALONG_NETS else [])
                               + (NOISE["epochs"] if NOISE_NETS else [])))


# ----------------------------------------------------------------------------------- specs

def batch_spec(w):
    """SB's spec at another batch size, for a fixed number of epochs (paper: 100)."""
    spec = resolved_spec(w.net, SWEEP_SB, w.seed)
    spec.pop("batch_fraction", None)
    spec.update(batch_size=int(w.batch), regime=f"b{w.batch}", max_epochs=BATCH_SWEEP["epochs"],
                patience=BATCH_SWEEP["patience"])
    return json.dumps(spec, sort_keys=True)


def trajectory_spec(w):
    """SB's or LB's spec, run to the last requested checkpoint, keeping every requested iterate,
    with the per-epoch gradient-noise measurement when gradient_noise.scale.chunk is set."""
    spec = resolved_spec(w.net, w.regime, w.seed)
    spec.update(max_epochs=max([1, *TRAJECTORY_EPOCHS]), patience=None,
                save_epochs=TRAJECTORY_EPOCHS)
    scale = NOISE["scale"]
    if w.net in NOISE_NETS and scale["chunk"]:
        spec.update(noise_chunk=scale["chunk"], noise_every=scale["every"],
                    noise_size=scale["train_size"])
    return json.dumps(spec, sort_keys=True)


def warm_spec(w):
    """LB's spec, started from the SB iterate after `epoch` epochs (fresh Adam state)."""
    spec = resolved_spec(w.net, SWEEP_LB, w.seed)
    spec.update(regime=f"LB_from_SB{w.epoch}", max_epochs=WARM["lb_epochs"],
                patience=WARM["patience"], init_from=iterate(w.net, SWEEP_SB, w.seed, w.epoch))
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
    return [batch_dir(net, b, s) for b in BATCH_SWEEP["batch_sizes"].get(net, [])
            for s in sweep_seeds(BATCH_SWEEP, "all")]


def warm_runs(net):
    return [warm_dir(net, k, s) for k in WARM["sb_epochs"] for s in sweep_seeds(WARM)]


def trajectory_runs(net, block, regimes=(SWEEP_SB, SWEEP_LB)):
    """The trajectory run folders a block uses: its regimes x its seeds."""
    return [trajectory_dir(net, r, s) for r in regimes for s in sweep_seeds(block)]


def batch_sweep_inputs(net):
    runs = batch_runs(net)
    return {"metrics": [run_files(d)["metrics"] for d in runs],
            "sharpness": [model_sharpness(run_files(d)["model"], BATCH_SWEEP["space"], e)
                          for d in runs for e in BATCH_SWEEP["eps"]]}


def warm_inputs(net):
    runs = warm_runs(net)
    return {"histories": [run_files(d)["history"] for d in runs],
            "sharpness": [model_sharpness(run_files(d)["model"], WARM["space"], e)
                          for d in runs for e in WARM["eps"]]}


def along_inputs(net):
    keys = [(r, s) for r in (SWEEP_SB, SWEEP_LB) for s in sweep_seeds(ALONG)]
    return {"histories": [run_files(d)["history"] for d in trajectory_runs(net, ALONG)],
            "sharpness": [model_sharpness(iterate(net, r, s, e), ALONG["space"], eps)
                          for r, s in keys for e in ALONG["epochs"] for eps in ALONG["eps"]]}


def noise_spread_inputs(net):
    return [noise_file(net, r, s, e) for r in (SWEEP_SB, SWEEP_LB) for s in sweep_seeds(NOISE)
            for e in NOISE["epochs"]]


def noise_scale_inputs(net):
    return [run_files(d)["history"] for d in trajectory_runs(net, NOISE)]


def dynamic_nets():
    return [n for n in NETS if net_regimes(n, "dynamic")]


def dynamic_inputs():
    runs = [(n, r, s) for n in dynamic_nets()
            for r in [x for x in (SWEEP_SB, SWEEP_LB) if x in net_regimes(n, "plain")]
            + net_regimes(n, "dynamic") for s in SEEDS]
    return {"metrics": [run_file(n, r, s, "metrics") for n, r, s in runs],
            "sharpness": [sharpness_file(n, r, s, "full", e)
                          for n, r, s in runs for e in config["sharpness"]["eps"]]}


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
    return {"sweep_runs": sorted({run_files(d)["metrics"] for d in runs}),
            "sweep_sharpness": sorted(set(sharp))}


# ----------------------------------------------------------------------------------- training
# common.smk's train job, each with its own spec.

rule sweep_batch_train:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        **run_files(batch_dir("{net}", "{batch}", "{seed}")),
    wildcard_constraints:
        batch=r"\d+",
    params:
        **train_params(batch_spec),
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        log_file("sweep_batch_train"),
    shell:
        TRAIN_SHELL


rule trajectory_train:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        **run_files(trajectory_dir("{net}", "{regime}", "{seed}")),
        **({"iterates": [iterate("{net}", "{regime}", "{seed}", e) for e in TRAJECTORY_EPOCHS]}
           if TRAJECTORY_EPOCHS else {}),
    wildcard_constraints:
        regime=f"{SWEEP_SB}|{SWEEP_LB}",
    params:
        **train_params(trajectory_spec),
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        log_file("trajectory_train"),
    shell:
        TRAIN_SHELL


rule warmstart_train:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
        init=iterate("{net}", SWEEP_SB, "{seed}", "{epoch}"),
    output:
        **run_files(warm_dir("{net}", "{epoch}", "{seed}")),
    wildcard_constraints:
        epoch=r"\d+",
    params:
        **train_params(warm_spec),
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        log_file("warmstart_train"),
    shell:
        TRAIN_SHELL


# ----------------------------------------------------------------------------------- measurements

rule sweep_sharpness:
    input:
        model=sweep_model("{kind}", "{net}", "{path}"),
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        model_sharpness(sweep_model("{kind}", "{net}", "{path}"), "{space}", "{eps}"),
    wildcard_constraints:
        kind="|".join(SWEEP_KINDS),
        path=r"[A-Za-z0-9_/]+",
    params:
        **sharpness_params(sweep_regime),  # common.smk's sharpness job
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        log_file("sweep_sharpness"),
    shell:
        SHARPNESS_SHELL


rule grad_noise:
    input:
        model=iterate("{net}", "{regime}", "{seed}", "{epoch}"),
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        noise_file("{net}", "{regime}", "{seed}", "{epoch}"),
    wildcard_constraints:
        regime=f"{SWEEP_SB}|{SWEEP_LB}",
        epoch=r"\d+",
    params:
        size=lambda w: subset_args(w.net, "gradient_noise", ("train",)),
        sizes=" ".join(str(m) for m in NOISE["batch_sizes"]),
        repeats=NOISE["repeats"],
        seed=NOISE["seed"],
        **gpu_params(),
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        log_file("grad_noise"),
    shell:
        "{params.sm} grad-noise --model {input.model} --data {input.data} {params.size} "
        "--sizes {params.sizes} --repeats {params.repeats} --seed {params.seed} --out {output} "
        "--device {params.device} --threads {threads} --gpu-lock-dir {params.gpu_locks} 2> {log}"


# ----------------------------------------------------------------------------------- frames

rule fig4_frame:
    input:
        metrics=lambda w: batch_sweep_inputs(w.net)["metrics"],
        sharpness=lambda w: batch_sweep_inputs(w.net)["sharpness"],
    output:
        frame_file("fig4", "{net}"),
    params:
        code=code_hash("sharpminima.analysis.sweeps", "batch_sweep_frame"),
        scale=config["scale"],
        sm=SM,
    log:
        log_file("fig4_frame"),
    shell:
        "{params.sm} sweep-frame fig4 --metrics {input.metrics} --sharpness {input.sharpness} "
        "--out {output} --scale {params.scale} 2> {log}"


rule fig5_frame:
    input:
        histories=lambda w: warm_inputs(w.net)["histories"],
        sharpness=lambda w: warm_inputs(w.net)["sharpness"],
    output:
        frame_file("fig5", "{net}"),
    params:
        code=code_hash("sharpminima.analysis.sweeps", "warm_start_frame"),
        scale=config["scale"],
        sm=SM,
    log:
        log_file("fig5_frame"),
    shell:
        "{params.sm} sweep-frame fig5 --histories {input.histories} --sharpness {input.sharpness} "
        "--out {output} --scale {params.scale} 2> {log}"


rule fig6_frame:
    input:
        histories=lambda w: along_inputs(w.net)["histories"],
        sharpness=lambda w: along_inputs(w.net)["sharpness"],
    output:
        frame_file("fig6", "{net}"),
    params:
        code=code_hash("sharpminima.analysis.sweeps", "along_training_frame"),
        scale=config["scale"],
        sm=SM,
    log:
        log_file("fig6_frame"),
    shell:
        "{params.sm} sweep-frame fig6 --sharpness {input.sharpness} --histories {input.histories} "
        "--out {output} --scale {params.scale} 2> {log}"


rule noise_spread_frame:
    input:
        lambda w: noise_spread_inputs(w.net),
    output:
        frame_file("noise_spread", "{net}"),
    params:
        code=code_hash("sharpminima.analysis.sweeps", "spread_frame"),
        scale=config["scale"],
        sm=SM,
    log:
        log_file("noise_spread_frame"),
    shell:
        "{params.sm} sweep-frame noise_spread --records {input} --out {output} "
        "--scale {params.scale} 2> {log}"


rule noise_scale_frame:
    input:
        lambda w: noise_scale_inputs(w.net),
    output:
        frame_file("noise_scale", "{net}"),
    params:
        code=code_hash("sharpminima.analysis.sweeps", "noise_scale_frame"),
        scale=config["scale"],
        sm=SM,
    log:
        log_file("noise_scale_frame"),
    shell:
        "{params.sm} sweep-frame noise_scale --histories {input} --out {output} "
        "--scale {params.scale} 2> {log}"


# ----------------------------------------------------------------------------------- figures
# common.smk's figure rule, drawn from the frames above.

rule fig4_figure:
    input:
        inputs=frame_file("fig4", "{net}"),
    output:
        figure_outputs("fig4"),
    params:
        **figure_params("fig4"),
    log:
        log_file("fig4_figure"),
    shell:
        FIGURE_SHELL


rule fig5_figure:
    input:
        inputs=frame_file("fig5", "{net}"),
    output:
        figure_outputs("fig5"),
    params:
        **figure_params("fig5"),
    log:
        log_file("fig5_figure"),
    shell:
        FIGURE_SHELL


rule fig6_figure:
    input:
        inputs=frame_file("fig6", "{net}"),
    output:
        figure_outputs("fig6"),
    params:
        **figure_params("fig6"),
    log:
        log_file("fig6_figure"),
    shell:
        FIGURE_SHELL


rule noise_spread_figure:
    input:
        inputs=frame_file("noise_spread", "{net}"),
    output:
        figure_outputs("noise_spread"),
    params:
        **figure_params("noise_spread"),
    log:
        log_file("noise_spread_figure"),
    shell:
        FIGURE_SHELL


rule noise_scale_figure:
    input:
        inputs=frame_file("noise_scale", "{net}"),
    output:
        figure_outputs("noise_scale"),
    params:
        **figure_params("noise_scale"),
    log:
        log_file("noise_scale_figure"),
    shell:
        FIGURE_SHELL


# ----------------------------------------------------------------------------------- dynamic

rule dynamic_table:
    input:
        **dynamic_inputs(),
    output:
        **table_files("dynamic"),
    params:
        code=code_hash("sharpminima.analysis.sweeps", "dynamic_table"),
        scale=config["scale"],
        sm=SM,
    log:
        log_file("dynamic_table"),
    shell:
        "{params.sm} dynamic-table --metrics {input.metrics} --sharpness {input.sharpness} "
        "--out-csv {output.csv} --out-md {output.md} --scale {params.scale} 2> {log}"
