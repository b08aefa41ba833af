# Remedies of the generalization gap (paper App. E and later work). A remedy regime is an ordinary
# regime with a `remedy` block: the `train` rule trains it (nets x their regimes x seeds, GPU tag)
# and the `sharpness` rule measures it. This file only assembles the table, beside plain SB and LB:
# test accuracy and full-space sharpness at every configured eps, and the paper's verdicts.

REMEDY_REFERENCE, REMEDY_BASELINE = "SB", "LB"  # shown for reference / changes measured against
REMEDY_SPACE = "full"  # the issue's table: full-space sharpness (paper Table 3's metric)


def remedy_nets():
    """Planned nets that train at least one remedy regime."""
    return [n for n in NETS if net_regimes(n, "remedy")]


def remedy_table_regimes(net):
    plain = [r for r in (REMEDY_REFERENCE, REMEDY_BASELINE) if r in net_regimes(net, "plain")]
    return plain + net_regimes(net, "remedy")


def remedy_table_inputs():
    runs = [(n, r, s) for n in remedy_nets() for r in remedy_table_regimes(n) for s in SEEDS]
    return {
        "metrics": [run_file(n, r, s, "metrics") for n, r, s in runs],
        "sharpness": [sharpness_file(n, r, s, REMEDY_SPACE, e)
                      for n, r, s in runs for e in config["sharpness"]["eps"]],
    }


def remedies_targets():
    """The remedies table, for rule all: only when some net trains a remedy regime."""
    if not remedy_nets():
        return []
    return list(table_files("remedies").values())


localrules:
    remedies_table,  # light: runs on the submitting host even with a cluster executor


rule remedies_table:
    input:
        **remedy_table_inputs(),
    output:
        **table_files("remedies"),
    params:
        scale=config["scale"],
        reference=REMEDY_REFERENCE,
        baseline=REMEDY_BASELINE,
        sm=SM,
    log:
        log_file("remedies_table"),
    shell:
        "{params.sm} remedies-table --metrics {input.metrics} --sharpness {input.sharpness} "
        "--reference {params.reference} --baseline {params.baseline} "
        "--out-csv {output.csv} --out-md {output.md} --scale {params.scale} 2> {log}"
