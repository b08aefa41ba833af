#!/usr/bin/env bash
# Fetch the artifacts of the checked-out snapshot from the DVC remote and make Snakemake consider
# them up to date (pulled files get fresh mtimes in arbitrary order, and .snakemake/ is not in git).
# Usage: pull.sh CONFIGFILE
set -euo pipefail
config=${1:?usage: pull.sh CONFIGFILE (the config the snapshot was made with)}
dvc=${DVC:-.venv/bin/dvc}
py=${PY:-.venv/bin/python}
export DVC_NO_ANALYTICS=1
"$dvc" pull
if [ -d results/.snakemake-metadata ]; then
    mkdir -p .snakemake
    rm -rf .snakemake/metadata
    cp -r results/.snakemake-metadata .snakemake/metadata
fi
"$py" -m snakemake --configfile "$config" --touch --cores 1 --quiet
echo "pull: artifacts in place; '$py -m snakemake --configfile $config -n' shows what would rerun"
