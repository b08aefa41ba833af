# Tables and figures: computed from the runs' small JSON/CSV records, never from checkpoints.
# Light rules run on the submitting host even with a cluster executor. What they collect: plan.smk.


localrules:
    table2,
    collect,
    summary,
    report,


rule table2:
    input:
        all_runs("metrics", "plain"),  # remedy regimes: remedies_table
    output:
        **table_outputs("table2"),
    log:
        log_file("table2"),
    conda:
        CONDA_ENV
    params:
        scale=config["scale"],
        tolerance=config["protocol"]["fit_tolerance_pts"],
        sm=SM,
    shell:
        "{params.sm} table2 {input} --fit-tolerance {params.tolerance} --out-csv {output.csv} "
        "--out-md {output.md} --scale {params.scale} 2> {log}"


rule summary:
    input:
        table2=table_files("table2")["csv"],
        sharpness=[table_files(t)["csv"] for t in sharpness_tables()],
        hessian=table_files("hessian")["csv"],
        histories=all_runs("history", "plain"),
    output:
        metrics=METRICS,
        curves=directory(SUMMARY_CURVES),
    log:
        log_file("summary"),
    conda:
        CONDA_ENV
    params:
        sm=SM,
    shell:
        "{params.sm} summary --table2 {input.table2} --sharpness-tables {input.sharpness} "
        "--hessian {input.hessian} --histories {input.histories} "
        "--out-metrics {output.metrics} --out-curves {output.curves} 2> {log}"


rule collect:
    input:
        unpack(lambda w: collect_inputs()),
    output:
        [summary_file(kind) for kind in SUMMARY_KINDS + ("histories",)],
        manifest=SUMMARY_MANIFEST,
    log:
        log_file("collect"),
    conda:
        CONDA_ENV
    params:
        manifest=lambda w: json.dumps(report_manifest(), sort_keys=True),
        out_dir=lambda w, output: os.path.dirname(output.manifest),
        sm=SM,
    shell:
        "{params.sm} collect --runs {input.runs} --sharpness {input.sharpness} "
        "--hessian {input.hessian} --landscape {input.landscape} "
        "--sweep-runs {input.sweep_runs} --sweep-sharpness {input.sweep_sharpness} "
        "--measures {input.measures} --reparam {input.reparam} "
        "--histories {input.histories} --manifest {params.manifest:q} "
        "--out-dir {params.out_dir} 2> {log}"


rule report:
    input:
        lambda w: [t for t in all_targets() if t != REPORT],
        manifest=SUMMARY_MANIFEST,
        annotations=ANNOTATED_CONFIG,
    output:
        md=REPORT,
        html=report(REPORT_HTML, caption="../report/report_html.rst", category="Report"),
        rst=REPORT_RST,
    log:
        log_file("report"),
    conda:
        CONDA_ENV
    params:
        config=json.dumps(config, sort_keys=True),
        sm=SM,
    shell:
        "{params.sm} report --manifest {input.manifest} --config {params.config:q} "
        "--annotations {input.annotations} --out {output.md} --out-html {output.html} "
        "--out-rst {output.rst} "
        "2> {log}"
