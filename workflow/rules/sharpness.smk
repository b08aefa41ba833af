# Sharpness (paper Metric 2.1, Tables 3 and 4) and the Hessian spectrum, one GPU job per trained run
# and measurement. Outputs are small JSON records; the tables are built from them.


def sharpness_files(nets=None, regimes=None, spaces=None, eps_list=None):
    s = config["sharpness"]
    return [sharpness_file(n, r, sd, sp, e)
            for n in (nets or NETS) for r in (regimes or net_regimes(n, "plain")) for sd in SEEDS
            for sp in (spaces or s["spaces"]) for e in (eps_list or s["eps"])]


def hessian_files():
    return [f"{RESULTS}/hessian/{n}/{r}/seed{s}.json"
            for n in NETS for r in net_regimes(n, "plain") for s in SEEDS]


def measure_size(wildcards, stage):
    """Training examples a measurement uses: the run's own training set, optionally cut further."""
    net = config["nets"][wildcards.net]
    sizes = [net.get("train_size"), config[stage]["train_size"], net.get("measure_train_size")]
    sizes = [s for s in sizes if s]
    return f"--train-size {min(sizes)}" if sizes else ""


def measure_chunk(wildcards, stage):
    return config[stage]["eval_chunk"] or json.loads(train_spec(wildcards))["eval_chunk"]


rule sharpness:
    input:
        model=lambda w: run_files(w.net, w.regime, w.seed)["model"],
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        sharpness_file("{net}", "{regime}", "{seed}", "{space}", "{eps}"),
    params:
        size=lambda w: measure_size(w, "sharpness"),
        chunk=lambda w: measure_chunk(w, "sharpness"),
        options=sharpness_options(),
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"{LOGS}/sharpness/{{net}}/{{regime}}/seed{{seed}}/{{space}}_eps{{eps}}.log",
    shell:
        "{SM} sharpness --model {input.model} --data {input.data} {params.size} "
        "--eps {wildcards.eps} --space {wildcards.space} {params.options} "
        "--chunk {params.chunk} --out {output} --device {params.device} --threads {threads} "
        "--gpu-lock-dir {GPU_LOCKS} 2> {log}"


rule hessian:
    input:
        model=lambda w: run_files(w.net, w.regime, w.seed)["model"],
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        f"{RESULTS}/hessian/{{net}}/{{regime}}/seed{{seed}}.json",
    params:
        size=lambda w: measure_size(w, "hessian"),
        chunk=lambda w: measure_chunk(w, "hessian"),
        k=config["hessian"]["top_k"],
        samples=config["hessian"]["trace_samples"],
        seed=config["hessian"]["seed"],
        tol=config["hessian"]["tol"],
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"{LOGS}/hessian/{{net}}/{{regime}}/seed{{seed}}.log",
    shell:
        "{SM} hessian --model {input.model} --data {input.data} {params.size} --k {params.k} "
        "--trace-samples {params.samples} --seed {params.seed} --tol {params.tol} "
        "--chunk {params.chunk} --out {output} --device {params.device} --threads {threads} "
        "--gpu-lock-dir {GPU_LOCKS} 2> {log}"


rule sharpness_table:
    input:
        lambda w: sharpness_files(spaces=[TABLE_SPACE[w.table]]),
    output:
        csv=f"{RESULTS}/tables/{{table}}.csv",
        md=f"{RESULTS}/tables/{{table}}.md",
    wildcard_constraints:
        table="table3|table4",
    params:
        scale=config["scale"],
        caption=lambda w: sharpness_caption(),
        factor=config["sharpness"]["shortfall_factor"],
    log:
        f"{LOGS}/tables/{{table}}.log",
    shell:
        "{SM} sharpness-table {input} --caption {params.caption:q} "
        "--shortfall-factor {params.factor} "
        "--out-csv {output.csv} --out-md {output.md} --scale {params.scale} 2> {log}"


rule hessian_table:
    input:
        hessian_files(),
    output:
        csv=f"{RESULTS}/tables/hessian.csv",
        md=f"{RESULTS}/tables/hessian.md",
    params:
        scale=config["scale"],
    log:
        f"{LOGS}/tables/hessian.log",
    shell:
        "{SM} hessian-table {input} --out-csv {output.csv} --out-md {output.md} "
        "--scale {params.scale} 2> {log}"
