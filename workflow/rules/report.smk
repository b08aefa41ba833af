# Tables and figures: computed from the runs' small JSON/CSV records, never from checkpoints.
# Light rules run on the submitting host even with a cluster executor.
from pathlib import Path


localrules:
    table2,
    collect,
    summary,
    report,

SUMMARY_KINDS = ("runs", "sharpness", "hessian", "landscape", "sweep_runs", "sweep_sharpness")


def collect_inputs():
    """Every JSON record the current configuration plans, by kind (the report's only source)."""
    remedy, dynamic = remedy_table_inputs(), dynamic_inputs()  # remedies.smk, sweeps.smk
    landscape = [landscape_files(n)["meta"] for n in paired_nets()]  # landscape.smk
    landscape += [slice_files(n, r)["meta"] for n in NETS for r in net_regimes(n, "plain")]
    return {"runs": all_runs("metrics"),
            "sharpness": sorted(set(sharpness_files() + remedy["sharpness"]
                                    + dynamic["sharpness"])),
            "hessian": hessian_files(), "landscape": landscape, **sweep_records(),
            "histories": all_runs("history", "plain")}


def report_manifest():
    """What the report reads, by role: the tidy tables, the tables' Markdown, and per figure kind
    its PNGs and the tidy frames it was drawn from. Every path is an input of the report."""
    planned = [(k, n) for n in NETS for k in ("fig2", "slice2d")]
    planned += [(k, n) for n in paired_nets() for k in ("fig3", "fig7")] + sweep_figures()
    figures, frames = {}, {}
    for kind, net in planned:
        figures.setdefault(kind, []).append(figure_files(kind, net)["png"])
    for net in paired_nets():
        frames.setdefault("fig3", []).append(landscape_files(net)["linear"])
        frames.setdefault("fig7", []).append(landscape_files(net)["curvilinear"])
    for net in NETS:
        frames.setdefault("slice2d", []).extend(
            slice_files(net, r)["csv"] for r in net_regimes(net, "plain"))
    for kind, net in sweep_figures():
        frames.setdefault(kind, []).append(frame_file(kind, net))
    frames["fig2"] = [summary_file("histories")]
    tables = {Path(t).stem: t for t in tables_all() if t.endswith(".md")}
    return {"summary": SUMMARY, "tables": tables, "figures": figures, "frames": frames}


def tables_all():
    """Every table of the plan (paper tables, remedies, dynamic sampling)."""
    return tables() + remedies_targets() + dynamic_tables()  # remedies.smk, sweeps.smk


rule table2:
    input:
        all_runs("metrics", "plain"),  # remedy regimes: remedies.smk
    output:
        **table_files("table2"),
    params:
        scale=config["scale"],
        tolerance=config["protocol"]["fit_tolerance_pts"],
        sm=SM,
    log:
        log_file("table2"),
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
    params:
        sm=SM,
    log:
        log_file("summary"),
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
    params:
        manifest=lambda w: json.dumps(report_manifest(), sort_keys=True),
        out_dir=lambda w, output: os.path.dirname(output.manifest),
        sm=SM,
    log:
        log_file("collect"),
    shell:
        "{params.sm} collect --runs {input.runs} --sharpness {input.sharpness} "
        "--hessian {input.hessian} --landscape {input.landscape} "
        "--sweep-runs {input.sweep_runs} --sweep-sharpness {input.sweep_sharpness} "
        "--histories {input.histories} --manifest {params.manifest:q} "
        "--out-dir {params.out_dir} 2> {log}"


rule report:
    input:
        lambda w: [t for t in all_targets() if t != REPORT],
        manifest=SUMMARY_MANIFEST,
        annotations=ANNOTATED_CONFIG,
    output:
        REPORT,
    params:
        config=json.dumps(config, sort_keys=True),
        sm=SM,
    log:
        log_file("report"),
    shell:
        "{params.sm} report --manifest {input.manifest} --config {params.config:q} "
        "--annotations {input.annotations} --out {output} "
        "2> {log}"
