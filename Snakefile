# sharpminima: reproduce Keskar et al. 2017 end to end. Thin on purpose: the stages live in
# workflow/rules/, the science in src/sharpminima/ (rules call only `python -m sharpminima VERB`).
from snakemake.utils import min_version

min_version("9.0")


# The full paper configuration, unless the user names one: Snakemake would otherwise deep-merge a
# --configfile (e.g. the demo) over this one, and the demo would inherit the paper's six nets.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/plan.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sharpness.smk"
include: "workflow/rules/landscape.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/remedies.smk"
include: "workflow/rules/sweeps.smk"
include: "workflow/rules/beyond.smk"


rule all:
    default_target: True
    input:
        all_targets(),
