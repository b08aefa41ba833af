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
import types

from sharpminima.core.codehash import code_hash

SWEEPS = f"{RESULTS}/sweeps"
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


def eps_text(eps):
    return eps if isinstance(eps, str) else f"{eps:g}"  # the spelling of sharpness_file


# ----------------------------------------------------------------------------------- paths

def sweep_run_files(d):
    return {"model": f"{d}/model.pt", "history": f"{d}/history.csv", "metrics": f"{d}/metrics.json"}


def batch_dir(net, batch, seed):
    return f"{SWEEPS}/batch/{net}/b{batch}/seed{seed}"


def trajectory_dir(net, regime, seed):
    return f"{SWEEPS}/trajectory/{net}/{regime}/seed{seed}"


def warm_dir(net, epoch, seed):
    return f"{SWEEPS}/warmstart/{net}/from{epoch}/seed{seed}"


def iterate(net, regime, seed, epoch):
    return f"{trajectory_dir(net, regime, seed)}/iterates/epoch{epoch}.pt"


def model_sharpness(model, space, eps):
    """The sharpness record of a model file: beside it, named after it."""
    return f"{model[:-len('.pt')]}.sharpness_{space}_eps{eps_text(eps)}.json"


def noise_file(net, regime, seed, epoch):
    return iterate(net, regime, seed, epoch)[:-len(".pt")] + ".noise.csv"


SWEEP_FRAMES = {"fig4": "batch", "fig5": "warmstart", "fig6": "trajectory",
                "noise_spread": "trajectory", "noise_scale": "trajectory"}


def frame_file(kind, net):
    return f"{SWEEPS}/{SWEEP_FRAMES[kind]}/{net}/{kind}.csv"


# ----------------------------------------------------------------------------------- specs

def _base_spec(net, regime, seed):
    """The resolved TrainSpec of the pipeline's own run of (net, regime, seed) (common.smk)."""
    return json.loads(train_spec(types.SimpleNamespace(net=net, regime=regime, seed=seed)))


def batch_spec(w):
    """SB's spec at another batch size, for a fixed number of epochs (paper: 100)."""
    spec = _base_spec(w.net, SWEEP_SB, w.seed)
    spec.pop("batch_fraction", None)
    spec.update(batch_size=int(w.batch), regime=f"b{w.batch}", max_epochs=BATCH_SWEEP["epochs"],
                patience=BATCH_SWEEP["patience"])
    return json.dumps(spec, sort_keys=True)


def trajectory_spec(w):
    """SB's or LB's spec, run to the last requested checkpoint, keeping every requested iterate,
    with the per-epoch gradient-noise measurement when gradient_noise.scale.chunk is set."""
    spec = _base_spec(w.net, w.regime, w.seed)
    spec.update(max_epochs=max([1, *TRAJECTORY_EPOCHS]), patience=None,
                save_epochs=TRAJECTORY_EPOCHS)
    scale = NOISE["scale"]
    if w.net in NOISE_NETS and scale["chunk"]:
        spec.update(noise_chunk=scale["chunk"], noise_every=scale["every"],
                    noise_size=scale["train_size"])
    return json.dumps(spec, sort_keys=True)


def warm_spec(w):
    """LB's spec, started from the SB iterate after `epoch` epochs (fresh Adam state)."""
    spec = _base_spec(w.net, SWEEP_LB, w.seed)
    spec.update(regime=f"LB_from_SB{w.epoch}", max_epochs=WARM["lb_epochs"],
                patience=WARM["patience"], init_from=iterate(w.net, SWEEP_SB, w.seed, w.epoch))
    return json.dumps(spec, sort_keys=True)


def sweep_eval_chunk(w):
    """sharpness.eval_chunk, or the net's own train.eval_chunk (the definition of f with BN)."""
    net_train = {**config["train"], **config["nets"][w.net].get("train", {})}
    return config["sharpness"]["eval_chunk"] or net_train["eval_chunk"]


def noise_size(w):
    sizes = [s for s in (config["nets"][w.net].get("train_size"), NOISE["train_size"]) if s]
    return f"--train-size {min(sizes)}" if sizes else ""


# ----------------------------------------------------------------------------------- targets

def batch_sweep_inputs(net):
    runs = [batch_dir(net, b, s) for b in BATCH_SWEEP["batch_sizes"].get(net, [])
            for s in sweep_seeds(BATCH_SWEEP, "all")]
    return {"metrics": [sweep_run_files(d)["metrics"] for d in runs],
            "sharpness": [model_sharpness(sweep_run_files(d)["model"], BATCH_SWEEP["space"], e)
                          for d in runs for e in BATCH_SWEEP["eps"]]}


def warm_inputs(net):
    runs = [warm_dir(net, k, s) for k in WARM["sb_epochs"] for s in sweep_seeds(WARM)]
    return {"histories": [sweep_run_files(d)["history"] for d in runs],
            "sharpness": [model_sharpness(sweep_run_files(d)["model"], WARM["space"], e)
                          for d in runs for e in WARM["eps"]]}


def along_inputs(net):
    keys = [(r, s) for r in (SWEEP_SB, SWEEP_LB) for s in sweep_seeds(ALONG)]
    return {"histories": [sweep_run_files(trajectory_dir(net, r, s))["history"] for r, s in keys],
            "sharpness": [model_sharpness(iterate(net, r, s, e), ALONG["space"], eps)
                          for r, s in keys for e in ALONG["epochs"] for eps in ALONG["eps"]]}


def noise_spread_inputs(net):
    return [noise_file(net, r, s, e) for r in (SWEEP_SB, SWEEP_LB) for s in sweep_seeds(NOISE)
            for e in NOISE["epochs"]]


def noise_scale_inputs(net):
    return [sweep_run_files(trajectory_dir(net, r, s))["history"]
            for r in (SWEEP_SB, SWEEP_LB) for s in sweep_seeds(NOISE)]


def dynamic_nets():
    return [n for n in NETS if net_regimes(n, "dynamic")]


def dynamic_inputs():
    runs = [(n, r, s) for n in dynamic_nets()
            for r in [x for x in (SWEEP_SB, SWEEP_LB) if x in net_regimes(n, "plain")]
            + net_regimes(n, "dynamic") for s in SEEDS]
    return {"metrics": [run_files(n, r, s)["metrics"] for n, r, s in runs],
            "sharpness": [sharpness_file(n, r, s, "full", e)
                          for n, r, s in runs for e in config["sharpness"]["eps"]]}


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
        out += [frame_file(kind, net)] + [f"{figure_stem(kind, net)}.{e}" for e in ("png", "pdf")]
    if dynamic_nets():
        out += [f"{RESULTS}/tables/dynamic.{ext}" for ext in ("csv", "md")]
    return out


def sweep_records():
    """The JSON records of every planned Section 4 job, for the report's tidy tables (collect):
    the metrics.json of each sweep run (trajectories included) and every sharpness record."""
    runs, sharp = [], []
    for net in BATCH_NETS:
        runs += batch_sweep_inputs(net)["metrics"]
        sharp += batch_sweep_inputs(net)["sharpness"]
    for net in WARM_NETS:
        runs += [h.replace("history.csv", "metrics.json") for h in warm_inputs(net)["histories"]]
        runs += [f"{trajectory_dir(net, SWEEP_SB, s)}/metrics.json" for s in sweep_seeds(WARM)]
        sharp += warm_inputs(net)["sharpness"]
    for net in ALONG_NETS:
        runs += [h.replace("history.csv", "metrics.json") for h in along_inputs(net)["histories"]]
        sharp += along_inputs(net)["sharpness"]
    for net in NOISE_NETS:
        runs += [h.replace("history.csv", "metrics.json") for h in noise_scale_inputs(net)]
    return {"sweep_runs": sorted(set(runs)), "sweep_sharpness": sorted(set(sharp))}


# ----------------------------------------------------------------------------------- training

SWEEP_TRAIN = ("{SM} train --data {input.data} --spec {params.spec:q} {params.sizes} "
               "--out-dir $(dirname {output.metrics}) --device {params.device} "
               "--threads {threads} --gpu-lock-dir {GPU_LOCKS} 2> {log}")


rule sweep_batch_train:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        **sweep_run_files(batch_dir("{net}", "{batch}", "{seed}")),
    wildcard_constraints:
        batch=r"\d+",
    params:
        spec=batch_spec,
        sizes=size_args,
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"{LOGS}/sweeps/batch/{{net}}/b{{batch}}/seed{{seed}}.log",
    shell:
        SWEEP_TRAIN


rule trajectory_train:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        **sweep_run_files(trajectory_dir("{net}", "{regime}", "{seed}")),
        **({"iterates": [iterate("{net}", "{regime}", "{seed}", e) for e in TRAJECTORY_EPOCHS]}
           if TRAJECTORY_EPOCHS else {}),
    wildcard_constraints:
        regime=f"{SWEEP_SB}|{SWEEP_LB}",
    params:
        spec=trajectory_spec,
        sizes=size_args,
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"{LOGS}/sweeps/trajectory/{{net}}/{{regime}}/seed{{seed}}.log",
    shell:
        SWEEP_TRAIN


rule warmstart_train:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
        init=iterate("{net}", SWEEP_SB, "{seed}", "{epoch}"),
    output:
        **sweep_run_files(warm_dir("{net}", "{epoch}", "{seed}")),
    wildcard_constraints:
        epoch=r"\d+",
    params:
        spec=warm_spec,
        sizes=size_args,
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"{LOGS}/sweeps/warmstart/{{net}}/from{{epoch}}/seed{{seed}}.log",
    shell:
        SWEEP_TRAIN


# ----------------------------------------------------------------------------------- measurements

rule sweep_sharpness:
    input:
        model=f"{SWEEPS}/{{kind}}/{{net}}/{{path}}.pt",
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        f"{SWEEPS}/{{kind}}/{{net}}/{{path}}.sharpness_{{space}}_eps{{eps}}.json",
    wildcard_constraints:
        kind="batch|warmstart|trajectory",
        path=r"[A-Za-z0-9_/]+",
    params:
        size=lambda w: measure_size(w, "sharpness"),
        chunk=sweep_eval_chunk,
        options=sharpness_options(),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"{LOGS}/sweeps/{{kind}}/{{net}}/{{path}}.sharpness_{{space}}_eps{{eps}}.log",
    shell:
        "{SM} sharpness --model {input.model} --data {input.data} {params.size} "
        "--eps {wildcards.eps} --space {wildcards.space} {params.options} "
        "--chunk {params.chunk} --out {output} --device {params.device} --threads {threads} "
        "--gpu-lock-dir {GPU_LOCKS} 2> {log}"


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
        size=noise_size,
        sizes=" ".join(str(m) for m in NOISE["batch_sizes"]),
        repeats=NOISE["repeats"],
        seed=NOISE["seed"],
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"{LOGS}/sweeps/noise/{{net}}/{{regime}}/seed{{seed}}/epoch{{epoch}}.log",
    shell:
        "{SM} grad-noise --model {input.model} --data {input.data} {params.size} "
        "--sizes {params.sizes} --repeats {params.repeats} --seed {params.seed} --out {output} "
        "--device {params.device} --threads {threads} --gpu-lock-dir {GPU_LOCKS} 2> {log}"


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
    log:
        f"{LOGS}/sweeps/frames/fig4_{{net}}.log",
    shell:
        "{SM} sweep-frame fig4 --metrics {input.metrics} --sharpness {input.sharpness} "
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
    log:
        f"{LOGS}/sweeps/frames/fig5_{{net}}.log",
    shell:
        "{SM} sweep-frame fig5 --histories {input.histories} --sharpness {input.sharpness} "
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
    log:
        f"{LOGS}/sweeps/frames/fig6_{{net}}.log",
    shell:
        "{SM} sweep-frame fig6 --sharpness {input.sharpness} --histories {input.histories} "
        "--out {output} --scale {params.scale} 2> {log}"


rule noise_spread_frame:
    input:
        lambda w: noise_spread_inputs(w.net),
    output:
        frame_file("noise_spread", "{net}"),
    params:
        code=code_hash("sharpminima.analysis.sweeps", "spread_frame"),
        scale=config["scale"],
    log:
        f"{LOGS}/sweeps/frames/noise_spread_{{net}}.log",
    shell:
        "{SM} sweep-frame noise_spread --records {input} --out {output} "
        "--scale {params.scale} 2> {log}"


rule noise_scale_frame:
    input:
        lambda w: noise_scale_inputs(w.net),
    output:
        frame_file("noise_scale", "{net}"),
    params:
        code=code_hash("sharpminima.analysis.sweeps", "noise_scale_frame"),
        scale=config["scale"],
    log:
        f"{LOGS}/sweeps/frames/noise_scale_{{net}}.log",
    shell:
        "{SM} sweep-frame noise_scale --histories {input} --out {output} "
        "--scale {params.scale} 2> {log}"


# ----------------------------------------------------------------------------------- figures

SWEEP_FIGURE_TEXT = {
    "fig4": ("fig4.rst", "Fig. 4: batch-size sweep"),
    "fig5": ("fig5.rst", "Fig. 5: warm-started LB training"),
    "fig6": ("fig6.rst", "Fig. 6: sharpness along training"),
    "noise_spread": ("noise.rst", "Gradient noise vs batch size"),
    "noise_scale": ("noise_scale.rst", "Gradient noise scale along training"),
}



def _stem_of(kind):
    return lambda w: figure_stem(kind, w.net)


for _kind, (_caption, _category) in SWEEP_FIGURE_TEXT.items():

    rule:
        name:
            f"{_kind}_figure"
        input:
            frame_file(_kind, "{net}"),
        output:
            figure_outputs(_kind, "{net}", _caption, _category),
        params:
            kind=_kind,
            code=code_hash("sharpminima.figures.sweeps", _kind),
            stem=_stem_of(_kind),
            scale=config["scale"],
        log:
            f"{LOGS}/figures/{_kind}_{{net}}.log",
        shell:
            "{SM} figure {params.kind} --inputs {input} --out-stem {params.stem} "
            "--scale {params.scale} 2> {log}"


# ----------------------------------------------------------------------------------- dynamic

rule dynamic_table:
    input:
        **dynamic_inputs(),
    output:
        csv=f"{RESULTS}/tables/dynamic.csv",
        md=f"{RESULTS}/tables/dynamic.md",
    params:
        code=code_hash("sharpminima.analysis.sweeps", "dynamic_table"),
        scale=config["scale"],
    log:
        f"{LOGS}/tables/dynamic.log",
    shell:
        "{SM} dynamic-table --metrics {input.metrics} --sharpness {input.sharpness} "
        "--out-csv {output.csv} --out-md {output.md} --scale {params.scale} 2> {log}"
