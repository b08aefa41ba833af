"""Layer 7, cli: the `sharpminima` command, one verb per pipeline stage; Snakemake calls only these.

Each module holds one group of verbs (its `add_parsers` and `cmd_*` functions); `main` assembles the
parser. Heavy imports happen inside each verb so that `--help` stays fast.
May import: core, data, nets, training, measures, analysis, figures.
"""
