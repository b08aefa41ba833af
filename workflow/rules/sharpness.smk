# Sharpness (paper Metric 2.1, Tables 3 and 4) and the Hessian spectrum, one GPU job per trained run
# and measurement. Outputs are small JSON records; the tables are built from them. The sharpness job
# (params, shell) is common.smk's, shared with the sweeps' sharpness.


localrules:
    sharpness_table,  # the tables: light, on the submitting host with a cluster executor
    hessian_table,


rule sharpness:
    input:
        model=lambda w: run_file(w.net, w.regime, w.seed, "model"),
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        sharpness_file("{net}", "{regime}", "{seed}", "{space}", "{eps}"),
    log:
        log_file("sharpness"),
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        **sharpness_params(lambda w: w.regime),
    shell:
        SHARPNESS_SHELL


rule hessian:
    input:
        model=lambda w: run_file(w.net, w.regime, w.seed, "model"),
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        hessian_file("{net}", "{regime}", "{seed}"),
    log:
        log_file("hessian"),
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        **gpu_params(),
        size=lambda w: subset_args(w.net, "hessian", ("train",)),
        chunk=lambda w: eval_chunk("hessian", w.net, w.regime),
        k=config["hessian"]["top_k"],
        samples=config["hessian"]["trace_samples"],
        seed=config["hessian"]["seed"],
        tol=config["hessian"]["tol"],
    shell:
        "{params.sm} hessian --model {input.model} --data {input.data} {params.size} --k {params.k} "
        "--trace-samples {params.samples} --seed {params.seed} --tol {params.tol} "
        "--chunk {params.chunk} --out {output} --device {params.device} --threads {threads} "
        "--gpu-lock-dir {params.gpu_locks} 2> {log}"


rule sharpness_table:
    input:
        lambda w: sharpness_files(spaces=[TABLE_SPACE[w.table]]),
    output:
        **table_outputs("{table}"),
    log:
        log_file("sharpness_table"),
    wildcard_constraints:
        table="table3|table4",
    conda:
        CONDA_ENV
    params:
        scale=config["scale"],
        caption=lambda w: sharpness_caption(),
        factor=config["sharpness"]["shortfall_factor"],
        sm=SM,
    shell:
        "{params.sm} sharpness-table {input} --caption {params.caption:q} "
        "--shortfall-factor {params.factor} "
        "--out-csv {output.csv} --out-md {output.md} --scale {params.scale} 2> {log}"


rule hessian_table:
    input:
        hessian_files(),
    output:
        **table_outputs("hessian"),
    log:
        log_file("hessian_table"),
    conda:
        CONDA_ENV
    params:
        scale=config["scale"],
        sm=SM,
    shell:
        "{params.sm} hessian-table {input} --out-csv {output.csv} --out-md {output.md} "
        "--scale {params.scale} 2> {log}"
