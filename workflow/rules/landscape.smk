# Loss landscapes and the figures of training and landscapes.
# Compute (GPU-tagged): `landscape` = the 1-D paths between x_SB and x_LB of one seed (paper Figs. 3
# and 7), `slice2d` = the training loss on a 2-D filter-normalized slice around each minimizer
# (beyond the paper: Li et al. 2018), from directions drawn once by `slice_directions` and reused.
# Presentation (CPU): fig2 (training curves, from history.csv), fig3, fig7, slice2d_figure: they read
# only the small CSV records, never a checkpoint (common.smk's figure rule).


localrules:
    fig2,
    fig3,
    fig7,
    slice2d_figure,
    slice_directions,


rule landscape:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
        sb=lambda w: run_file(w.net, "SB", pair_seed(w.net), "model"),
        lb=lambda w: run_file(w.net, "LB", pair_seed(w.net), "model"),
    output:
        **landscape_files("{net}"),
    log:
        log_file("landscape"),
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        **gpu_params(),
        seed=lambda w: pair_seed(w.net),
        draw=f"--pair-seed {LANDSCAPE_CFG['pair_seed']} --candidates {' '.join(SEEDS)}",
        alphas=(
            f"--alpha-min {LANDSCAPE_CFG['alpha_min']} --alpha-max {LANDSCAPE_CFG['alpha_max']} "
            f"--points {LANDSCAPE_CFG['points']}"
        ),
        chunk=lambda w: eval_chunk("landscape", w.net, *PAIR_REGIMES),
        sizes=lambda w: subset_args(w.net, "landscape"),
    shell:
        "{params.sm} landscape --sb-model {input.sb} --lb-model {input.lb} --data {input.data} "
        "--seed {params.seed} {params.draw} {params.alphas} --eval-chunk {params.chunk} "
        "{params.sizes} --out-linear {output.linear} --out-curvilinear {output.curvilinear} "
        "--out-meta {output.meta} --device {params.device} --threads {threads} "
        "--gpu-lock-dir {params.gpu_locks} 2> {log}"


rule slice_directions:
    input:
        model=lambda w: run_file(w.net, w.regime, pair_seed(w.net), "model"),
    output:
        slice_files("{net}", "{regime}")["directions"],
    log:
        log_file("slice_directions"),
    conda:
        CONDA_ENV
    params:
        seed=LANDSCAPE_CFG["slice_seed"],
        sm=SM,
    shell:
        "{params.sm} directions --model {input.model} --seed {params.seed} --out {output} 2> {log}"


rule slice2d:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
        model=lambda w: run_file(w.net, w.regime, pair_seed(w.net), "model"),
        directions=slice_files("{net}", "{regime}")["directions"],
    output:
        csv=slice_files("{net}", "{regime}")["csv"],
        meta=slice_files("{net}", "{regime}")["meta"],
    log:
        log_file("slice2d"),
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        **gpu_params(),
        seed=lambda w: pair_seed(w.net),
        grid=f"--grid {LANDSCAPE_CFG['slice_grid']} --span {LANDSCAPE_CFG['slice_span']}",
        chunk=lambda w: eval_chunk("landscape", w.net, w.regime),
        sizes=lambda w: subset_args(w.net, "landscape", ("train",)),
    shell:
        "{params.sm} slice2d --model {input.model} --directions {input.directions} "
        "--data {input.data} {params.grid} --regime {wildcards.regime} --seed {params.seed} "
        "--eval-chunk {params.chunk} {params.sizes} --out {output.csv} --out-meta {output.meta} "
        "--device {params.device} --threads {threads} --gpu-lock-dir {params.gpu_locks} 2> {log}"


rule fig2:
    input:
        inputs=lambda w: [
            run_file(w.net, r, s, "history") for r in net_regimes(w.net, "plain") for s in SEEDS
        ],
        metrics=lambda w: [
            run_file(w.net, r, s, "metrics") for r in net_regimes(w.net, "plain") for s in SEEDS
        ],
    output:
        figure_outputs("fig2"),
    log:
        log_file("fig2"),
    conda:
        CONDA_ENV
    params:
        **figure_params("fig2"),
    shell:
        FIGURE_SHELL


rule fig3:
    input:
        inputs=landscape_files("{net}")["linear"],
    output:
        figure_outputs("fig3"),
    log:
        log_file("fig3"),
    conda:
        CONDA_ENV
    params:
        **figure_params("fig3"),
    shell:
        FIGURE_SHELL


rule fig7:
    input:
        inputs=landscape_files("{net}")["curvilinear"],
    output:
        figure_outputs("fig7"),
    log:
        log_file("fig7"),
    conda:
        CONDA_ENV
    params:
        **figure_params("fig7"),
    shell:
        FIGURE_SHELL


rule slice2d_figure:
    input:
        inputs=lambda w: [slice_files(w.net, r)["csv"] for r in net_regimes(w.net, "plain")],
    output:
        figure_outputs("slice2d"),
    log:
        log_file("slice2d_figure"),
    conda:
        CONDA_ENV
    params:
        **figure_params("slice2d"),
    shell:
        FIGURE_SHELL
