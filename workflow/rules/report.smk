# Tables and figures: computed from the runs' small JSON/CSV records, never from checkpoints.
# Light rules run on the submitting host even with a cluster executor.
from pathlib import Path


localrules:
    table2,
    collect,
    summary,
    report,

SUMMARY = f"{RESULTS}/summary"
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
        figures.setdefault(kind, []).append(f"{figure_stem(kind, net)}.png")
    for net in paired_nets():
        frames.setdefault("fig3", []).append(landscape_files(net)["linear"])
        frames.setdefault("fig7", []).append(landscape_files(net)["curvilinear"])
    for net in NETS:
        frames.setdefault("slice2d", []).extend(
            slice_files(net, r)["csv"] for r in net_regimes(net, "plain"))
    for kind, net in sweep_figures():
        frames.setdefault(kind, []).append(frame_file(kind, net))
    frames["fig2"] = [f"{SUMMARY}/histories.csv"]
    tables = {Path(t).stem: t for t in tables_all() if t.endswith(".md")}
    return {"summary": SUMMARY, "tables": tables, "figures": figures, "frames": frames}


def tables_all():
    """Every table of the plan (paper tables, remedies, dynamic sampling)."""
    extra = remedies_targets() + [t for t in sweep_targets() if "/tables/" in t]
    return tables() + extra


rule table2:
    input:
        all_runs("metrics", "plain"),  # remedy regimes: remedies.smk
    output:
        csv=f"{RESULTS}/tables/table2.csv",
        md=f"{RESULTS}/tables/table2.md",
    params:
        scale=config["scale"],
        tolerance=config["protocol"]["fit_tolerance_pts"],
    log:
        f"{LOGS}/tables/table2.log",
    shell:
        "{SM} table2 {input} --fit-tolerance {params.tolerance} --out-csv {output.csv} "
        "--out-md {output.md} --scale {params.scale} 2> {log}"


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


rule collect:
    input:
        unpack(lambda w: collect_inputs()),
    output:
        [f"{SUMMARY}/{kind}.csv" for kind in SUMMARY_KINDS + ("histories",)],
        manifest=f"{SUMMARY}/manifest.json",
    params:
        manifest=lambda w: json.dumps(report_manifest(), sort_keys=True),
        out_dir=SUMMARY,
    log:
        f"{LOGS}/collect.log",
    shell:
        "{SM} collect --runs {input.runs} --sharpness {input.sharpness} "
        "--hessian {input.hessian} --landscape {input.landscape} "
        "--sweep-runs {input.sweep_runs} --sweep-sharpness {input.sweep_sharpness} "
        "--histories {input.histories} --manifest {params.manifest:q} "
        "--out-dir {params.out_dir} 2> {log}"


rule report:
    input:
        lambda w: [t for t in all_targets() if t != REPORT],
        manifest=f"{SUMMARY}/manifest.json",
    output:
        REPORT,
    params:
        config=json.dumps(config, sort_keys=True),
    log:
        f"{LOGS}/report.log",
    shell:
        "{SM} report --manifest {input.manifest} --config {params.config:q} --out {output} "
        "2> {log}"
