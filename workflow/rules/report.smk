# Tables and figures: computed from the runs' small JSON/CSV records, never from checkpoints.


rule table2:
    input:
        all_runs("metrics"),
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
