# Tables and figures: computed from the runs' small JSON/CSV records, never from checkpoints.
# Light rules run on the submitting host even with a cluster executor.


localrules:
    table2,
    summary,
    report,


rule table2:
    input:
        all_runs("metrics", "plain"),  # remedy regimes: remedies.smk
    output:
        csv=f"{RESULTS}/tables/table2.csv",
        md=f"{RESULTS}/tables/table2.md",
    params:
        scale=config["scale"],
    log:
        f"{LOGS}/tables/table2.log",
    shell:
        "{SM} table2 {input} --out-csv {output.csv} --out-md {output.md} "
        "--scale {params.scale} 2> {log}"


rule summary:
    input:
        table2=f"{RESULTS}/tables/table2.csv",
        sharpness=[f"{RESULTS}/tables/{t}.csv" for t, sp in TABLE_SPACE.items()
                   if sp in config["sharpness"]["spaces"]],
        hessian=f"{RESULTS}/tables/hessian.csv",
        histories=all_runs("history", "plain"),
    output:
        metrics=f"{RESULTS}/metrics.json",
        curves=directory(f"{RESULTS}/summary/curves"),
    log:
        f"{LOGS}/summary.log",
    shell:
        "{SM} summary --table2 {input.table2} --sharpness-tables {input.sharpness} "
        "--hessian {input.hessian} --histories {input.histories} "
        "--out-metrics {output.metrics} --out-curves {output.curves} 2> {log}"


rule report:
    input:
        lambda w: [t for t in all_targets() if t != REPORT],
    output:
        REPORT,
    params:
        config=json.dumps(config, sort_keys=True),
    log:
        f"{LOGS}/report.log",
    shell:
        "{SM} report --results {RESULTS} --config {params.config:q} --out {output} 2> {log}"
