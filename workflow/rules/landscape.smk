# Loss landscapes and the figures of training and landscapes.
# Compute (GPU-tagged): `landscape` = the 1-D paths between x_SB and x_LB of one seed (paper Figs. 3
# and 7), `slice2d` = the training loss on a 2-D filter-normalized slice around each minimizer
# (beyond the paper: Li et al. 2018), from directions drawn once by `slice_directions` and reused.
# Presentation (CPU): fig2 (training curves, from history.csv), fig3, fig7, slice2d_figure: they read
# only the small CSV records, never a checkpoint.
import random

LANDSCAPE_CFG = config["landscape"]
LANDSCAPE_DIR = f"{RESULTS}/landscape"
FIGURE_DIR = f"{RESULTS}/figures"
PAIR_REGIMES = ("SB", "LB")  # the regimes whose minimizers Figs. 3 and 7 connect


def pair_seed(net):
    """The seed whose SB and LB runs are the pair of Figs. 3/7 and of the slices of `net`.

    The paper "randomly chose a pair" of its 5 trials; here one draw per net among the configured
    seeds, seeded by landscape.pair_seed (and the net's name), so the choice is reproducible and
    recorded (the `seed` column of every landscape CSV, pair_draw in landscape.json).
    """
    draw = random.Random(f"{LANDSCAPE_CFG['pair_seed']}:{net}")
    return draw.choice(sorted(int(s) for s in SEEDS))


def landscape_files(net):
    d = f"{LANDSCAPE_DIR}/{net}"
    return {"linear": f"{d}/linear.csv", "curvilinear": f"{d}/curvilinear.csv",
            "meta": f"{d}/landscape.json"}


def slice_files(net, regime):
    d = f"{LANDSCAPE_DIR}/{net}/{regime}"
    return {"directions": f"{d}/directions.pt", "csv": f"{d}/slice2d.csv", "meta": f"{d}/slice2d.json"}


def figure_stem(kind, net):
    return f"{FIGURE_DIR}/{kind}_{net}"


def figure_outputs(kind, net, caption, category):
    """PNG and PDF of one figure, both registered for `snakemake --report`."""
    return [report(f"{figure_stem(kind, net)}.{ext}", caption=f"../report/{caption}",
                   category=category, subcategory="{net}") for ext in ("png", "pdf")]


def landscape_eval_chunk(wildcards):
    """landscape.eval_chunk, or the net's own train.eval_chunk (with batch-statistics BN the chunk is
    part of the definition of f, so by default the landscapes use the training evaluation's)."""
    net_train = {**config["train"], **config["nets"][wildcards.net].get("train", {})}
    return LANDSCAPE_CFG["eval_chunk"] or net_train["eval_chunk"]


def landscape_size_args(wildcards, splits=("train", "test")):
    """The run's own subset (nets.<net>.train_size/test_size), cut further by landscape.*_size."""
    net = config["nets"][wildcards.net]
    args = []
    for split in splits:
        sizes = [n for n in (net.get(f"{split}_size"), LANDSCAPE_CFG[f"{split}_size"]) if n]
        if sizes:
            args.append(f"--{split}-size {min(sizes)}")
    return " ".join(args)


def paired_nets():
    return [n for n in NETS if set(PAIR_REGIMES) <= set(net_regimes(n, "plain"))]


def landscape_targets():
    """Every landscape record and figure, for rule all."""
    out = []
    for net in NETS:
        out += [f"{figure_stem('fig2', net)}.{ext}" for ext in ("png", "pdf")]
        out += [slice_files(net, r)["csv"] for r in net_regimes(net, "plain")]
        out += [f"{figure_stem('slice2d', net)}.{ext}" for ext in ("png", "pdf")]
    for net in paired_nets():
        out += list(landscape_files(net).values())
        out += [f"{figure_stem(k, net)}.{ext}" for k in ("fig3", "fig7") for ext in ("png", "pdf")]
    return out


localrules:
    fig2,
    fig3,
    fig7,
    slice2d_figure,
    slice_directions,


rule landscape:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
        sb=lambda w: run_files(w.net, "SB", pair_seed(w.net))["model"],
        lb=lambda w: run_files(w.net, "LB", pair_seed(w.net))["model"],
    output:
        **landscape_files("{net}"),
    params:
        seed=lambda w: pair_seed(w.net),
        draw=f"--pair-seed {LANDSCAPE_CFG['pair_seed']} --candidates {' '.join(SEEDS)}",
        alphas=f"--alpha-min {LANDSCAPE_CFG['alpha_min']} --alpha-max {LANDSCAPE_CFG['alpha_max']} --points {LANDSCAPE_CFG['points']}",
        chunk=landscape_eval_chunk,
        sizes=landscape_size_args,
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"{LOGS}/landscape/{{net}}.log",
    shell:
        "{SM} landscape --sb-model {input.sb} --lb-model {input.lb} --data {input.data} "
        "--seed {params.seed} {params.draw} {params.alphas} --eval-chunk {params.chunk} "
        "{params.sizes} --out-linear {output.linear} --out-curvilinear {output.curvilinear} "
        "--out-meta {output.meta} --device {params.device} --threads {threads} "
        "--gpu-lock-dir {GPU_LOCKS} 2> {log}"


rule slice_directions:
    input:
        model=lambda w: run_files(w.net, w.regime, pair_seed(w.net))["model"],
    output:
        slice_files("{net}", "{regime}")["directions"],
    params:
        seed=LANDSCAPE_CFG["slice_seed"],
    log:
        f"{LOGS}/landscape/{{net}}/{{regime}}/directions.log",
    shell:
        "{SM} directions --model {input.model} --seed {params.seed} --out {output} 2> {log}"


rule slice2d:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
        model=lambda w: run_files(w.net, w.regime, pair_seed(w.net))["model"],
        directions=slice_files("{net}", "{regime}")["directions"],
    output:
        csv=slice_files("{net}", "{regime}")["csv"],
        meta=slice_files("{net}", "{regime}")["meta"],
    params:
        seed=lambda w: pair_seed(w.net),
        grid=f"--grid {LANDSCAPE_CFG['slice_grid']} --span {LANDSCAPE_CFG['slice_span']}",
        chunk=landscape_eval_chunk,
        sizes=lambda w: landscape_size_args(w, ("train",)),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"{LOGS}/landscape/{{net}}/{{regime}}/slice2d.log",
    shell:
        "{SM} slice2d --model {input.model} --directions {input.directions} --data {input.data} "
        "{params.grid} --regime {wildcards.regime} --seed {params.seed} "
        "--eval-chunk {params.chunk} {params.sizes} --out {output.csv} --out-meta {output.meta} "
        "--device {params.device} --threads {threads} --gpu-lock-dir {GPU_LOCKS} 2> {log}"


rule fig2:
    input:
        histories=lambda w: [run_files(w.net, r, s)["history"]
                             for r in net_regimes(w.net, "plain") for s in SEEDS],
        metrics=lambda w: [run_files(w.net, r, s)["metrics"]
                           for r in net_regimes(w.net, "plain") for s in SEEDS],
    output:
        figure_outputs("fig2", "{net}", "fig2.rst", "Fig. 2: accuracy during training"),
    params:
        code=figure_code("fig2"),
        stem=lambda w: figure_stem("fig2", w.net),
        scale=config["scale"],
    log:
        f"{LOGS}/figures/fig2_{{net}}.log",
    shell:
        "{SM} figure fig2 --inputs {input.histories} --out-stem {params.stem} "
        "--scale {params.scale} 2> {log}"


rule fig3:
    input:
        landscape_files("{net}")["linear"],
    output:
        figure_outputs("fig3", "{net}", "fig3.rst", "Fig. 3: linear interpolation SB to LB"),
    params:
        code=figure_code("fig3"),
        stem=lambda w: figure_stem("fig3", w.net),
        scale=config["scale"],
    log:
        f"{LOGS}/figures/fig3_{{net}}.log",
    shell:
        "{SM} figure fig3 --inputs {input} --out-stem {params.stem} --scale {params.scale} 2> {log}"


rule fig7:
    input:
        landscape_files("{net}")["curvilinear"],
    output:
        figure_outputs("fig7", "{net}", "fig7.rst", "Fig. 7: curvilinear path SB to LB"),
    params:
        code=figure_code("fig7"),
        stem=lambda w: figure_stem("fig7", w.net),
        scale=config["scale"],
    log:
        f"{LOGS}/figures/fig7_{{net}}.log",
    shell:
        "{SM} figure fig7 --inputs {input} --out-stem {params.stem} --scale {params.scale} 2> {log}"


rule slice2d_figure:
    input:
        lambda w: [slice_files(w.net, r)["csv"] for r in net_regimes(w.net, "plain")],
    output:
        figure_outputs("slice2d", "{net}", "slice2d.rst", "2-D loss slices (beyond the paper)"),
    params:
        code=figure_code("slice2d"),
        stem=lambda w: figure_stem("slice2d", w.net),
        scale=config["scale"],
    log:
        f"{LOGS}/figures/slice2d_{{net}}.log",
    shell:
        "{SM} figure slice2d --inputs {input} --out-stem {params.stem} --scale {params.scale} "
        "2> {log}"
