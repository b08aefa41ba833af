# Sharpness (paper Metric 2.1, Tables 3 and 4) and the Hessian spectrum, one GPU job per trained run
# and measurement. Outputs are small JSON records; the tables are built from them. The sharpness job
# (params, shell) is common.smk's, shared with the sweeps' sharpness.


def sharpness_files(nets=None, regimes=None, spaces=None, eps_list=None):
    s = config["sharpness"]
    return [sharpness_file(n, r, sd, sp, e)
            for n in (nets or NETS) for r in (regimes or net_regimes(n, "plain")) for sd in SEEDS
            for sp in (spaces or s["spaces"]) for e in (eps_list or s["eps"])]


def hessian_files():
    return [hessian_file(n, r, s) for n in NETS for r in net_regimes(n, "plain") for s in SEEDS]


rule sharpness:
    input:
        model=lambda w: run_file(w.net, w.regime, w.seed, "model"),
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        sharpness_file("{net}", "{regime}", "{seed}", "{space}", "{eps}"),
    params:
        **sharpness_params(lambda w: w.regime),
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        log_file("sharpness"),
    shell:
        SHARPNESS_SHELL


rule hessian:
    input:
        model=lambda w: run_file(w.net, w.regime, w.seed, "model"),
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        hessian_file("{net}", "{regime}", "{seed}"),
    params:
        size=lambda w: subset_args(w.net, "hessian", ("train",)),
        chunk=lambda w: eval_chunk("hessian", w.net, w.regime),
        k=config["hessian"]["top_k"],
        samples=config["hessian"]["trace_samples"],
        seed=config["hessian"]["seed"],
        tol=config["hessian"]["tol"],
        **gpu_params(),
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        log_file("hessian"),
    shell:
        "{params.sm} hessian --model {input.model} --data {input.data} {params.size} --k {params.k} "
        "--trace-samples {params.samples} --seed {params.seed} --tol {params.tol} "
        "--chunk {params.chunk} --out {output} --device {params.device} --threads {threads} "
        "--gpu-lock-dir {params.gpu_locks} 2> {log}"


rule sharpness_table:
    input:
        lambda w: sharpness_files(spaces=[TABLE_SPACE[w.table]]),
    output:
        **table_files("{table}"),
    wildcard_constraints:
        table="table3|table4",
    params:
        scale=config["scale"],
        caption=lambda w: sharpness_caption(),
        factor=config["sharpness"]["shortfall_factor"],
        sm=SM,
    log:
        log_file("sharpness_table"),
    shell:
        "{params.sm} sharpness-table {input} --caption {params.caption:q} "
        "--shortfall-factor {params.factor} "
        "--out-csv {output.csv} --out-md {output.md} --scale {params.scale} 2> {log}"


rule hessian_table:
    input:
        hessian_files(),
    output:
        **table_files("hessian"),
    params:
        scale=config["scale"],
        sm=SM,
    log:
        log_file("hessian_table"),
    shell:
        "{params.sm} hessian-table {input} --out-csv {output.csv} --out-md {output.md} "
        "--scale {params.scale} 2> {log}"
