# Remedies of the generalization gap (paper App. E and later work). A remedy regime is an ordinary
# regime with a `remedy` block: the `train` rule trains it (nets x their regimes x seeds, GPU tag)
# and the `sharpness` rule measures it. This file only assembles the table, beside plain SB and LB:
# test accuracy and full-space sharpness at every configured eps, and the paper's verdicts.


localrules:
    remedies_table,  # light: runs on the submitting host even with a cluster executor


rule remedies_table:
    input:
        **remedy_table_inputs(),
    output:
        **table_outputs("remedies"),
    log:
        log_file("remedies_table"),
    conda:
        CONDA_ENV
    params:
        scale=config["scale"],
        reference=REMEDY_REFERENCE,
        baseline=REMEDY_BASELINE,
        sm=SM,
    shell:
        "{params.sm} remedies-table --metrics {input.metrics} --sharpness {input.sharpness} "
        "--reference {params.reference} --baseline {params.baseline} "
        "--out-csv {output.csv} --out-md {output.md} --scale {params.scale} 2> {log}"
