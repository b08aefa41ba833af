# Beyond the paper: does sharpness explain the generalization gap? Three parts, one switch
# (generalization_measures.enabled):
#   measures, sweep_measures  adaptive worst-case (L-inf, L2, m-) and average-case sharpness and the
#                             baselines (|w|, |w - w_0|) of every model with a Metric 2.1 record
#   reparam, reparam_table    the reparametrization test (Dinh et al. 2017): SB and LB of each net
#                             rescaled (same function), logits checked, every measure re-measured
#   correlation_table, correlation_figure  Kendall's tau of each measure with the gap over every
#                             trained model, its bootstrap CI and the granulated tau
# Paths and the measures job: common.smk (measures_file, model_measures, reparam_files,
# MEASURES_SHELL); what is planned: plan.smk (its last section). Measurement rules are GPU-tagged.


localrules:
    reparam_table,  # the tables and the figure: light, on the submitting host
    correlation_table,
    correlation_figure,


rule measures:
    input:
        model=lambda w: run_file(w.net, w.regime, w.seed, "model"),
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        measures_file("{net}", "{regime}", "{seed}"),
    log:
        log_file("measures"),
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        **measures_params(lambda w: w.regime),
    shell:
        MEASURES_SHELL


rule sweep_measures:
    input:
        model=sweep_model("{kind}", "{net}", "{path}"),
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        model_measures(sweep_model("{kind}", "{net}", "{path}")),
    log:
        log_file("sweep_measures"),
    wildcard_constraints:
        kind="|".join(SWEEP_KINDS),
        path=r"[A-Za-z0-9_/]+",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        **measures_params(sweep_regime),
    shell:
        MEASURES_SHELL


rule reparam:
    input:
        model=lambda w: run_file(w.net, w.regime, w.seed, "model"),
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        **reparam_files("{net}", "{regime}", "{seed}"),
    log:
        log_file("reparam"),
    wildcard_constraints:
        regime="|".join(PAIR_REGIMES),
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        **measures_params(lambda w: w.regime),
        alphas=" ".join(str(a) for a in REPARAM["alphas"]),
        tolerance=REPARAM["tolerance"],
        bn_eps=REPARAM["bn_eps"],
        eps=config["sharpness"]["eps"][0],
        metric21=sharpness_options(),
        k=config["hessian"]["top_k"],
        hessian_seed=config["hessian"]["seed"],
        tol=config["hessian"]["tol"],
    shell:
        "{params.sm} reparam --model {input.model} --data {input.data} {params.size} "
        "--alphas {params.alphas} --tolerance {params.tolerance} --bn-eps {params.bn_eps} "
        "--eps {params.eps} --space full {params.metric21} {params.options} "
        "--hessian-k {params.k} --hessian-seed {params.hessian_seed} --hessian-tol {params.tol} "
        "--chunk {params.chunk} --out {output.json} --out-csv {output.csv} "
        "--device {params.device} --threads {threads} --gpu-lock-dir {params.gpu_locks} 2> {log}"


rule reparam_table:
    input:
        reparam_records("csv"),
    output:
        **table_outputs("reparam"),
    log:
        log_file("reparam_table"),
    conda:
        CONDA_ENV
    params:
        scale=config["scale"],
        sm=SM,
    shell:
        "{params.sm} reparam-table {input} --out-csv {output.csv} --out-md {output.md} "
        "--scale {params.scale} 2> {log}"


rule correlation_table:
    input:
        unpack(lambda w: correlation_inputs()),
    output:
        **table_outputs("correlation"),
        frame=CORRELATION_FRAME,
    log:
        log_file("correlation_table"),
    conda:
        CONDA_ENV
    params:
        eps=config["sharpness"]["eps"][0],
        scale=config["scale"],
        sm=SM,
    shell:
        "{params.sm} correlation-table --metrics {input.metrics} --sharpness {input.sharpness} "
        "--measures {input.measures} --eps {params.eps} --out-frame {output.frame} "
        "--out-csv {output.csv} --out-md {output.md} --scale {params.scale} 2> {log}"


rule correlation_figure:
    input:
        inputs=CORRELATION_FRAME,
    output:
        figure_outputs("correlation", ALL_NETS),
    log:
        log_file("correlation_figure"),
    conda:
        CONDA_ENV
    params:
        **figure_params("correlation", ALL_NETS),
    shell:
        FIGURE_SHELL
