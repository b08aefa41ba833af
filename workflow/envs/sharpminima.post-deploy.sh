#!/usr/bin/env bash
# Run by Snakemake inside the freshly created conda environment of sharpminima.yaml: installs this
# project (src/sharpminima) into it, editable, so that the rules' `python -m sharpminima` finds the
# checkout's code. SHARPMINIMA_SOURCE (the repository root) is set by workflow/rules/common.smk.
set -euo pipefail
python -m pip install --no-deps --no-build-isolation -e "${SHARPMINIMA_SOURCE:?set by workflow/rules/common.smk}"
