# sharpminima: reproduce Keskar et al. 2017 end to end. Thin on purpose: the stages live in
# workflow/rules/, the science in src/sharpminima/ (rules call only `python -m sharpminima VERB`).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/landscape.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True
