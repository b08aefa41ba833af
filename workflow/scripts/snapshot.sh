#!/usr/bin/env bash
# Record the current artifacts (data/, results/) with DVC, commit the pointer files to git and push
# the bytes to the default DVC remote. Usage: snapshot.sh [commit message]
set -euo pipefail
dvc=${DVC:-.venv/bin/dvc}
export DVC_NO_ANALYTICS=1
[ -d results ] || { echo "snapshot: no results/ yet: run the pipeline first" >&2; exit 1; }
# Snakemake's own records (params, code and input checksums per output) travel with the artifacts:
# a clone that pulls them can then tell what is up to date and what a config change invalidates.
if [ -d .snakemake/metadata ]; then
    rm -rf results/.snakemake-metadata
    cp -r .snakemake/metadata results/.snakemake-metadata
fi
# .dvcignore keeps transient files (resume.pt, .iterates-partial/, atomic temp files, locks) out
# of what `dvc add` records; nothing else is copied into the targets but the metadata above.
targets=()
for d in data results; do [ -d "$d" ] && targets+=("$d"); done
"$dvc" add --quiet "${targets[@]}"
pointers=()
for d in "${targets[@]}"; do pointers+=("$d.dvc"); done
git add "${pointers[@]}" .gitignore
if ! git diff --cached --quiet -- "${pointers[@]}" .gitignore; then
    git commit --quiet -m "${1:-snapshot $(date -u +%Y-%m-%dT%H:%M:%SZ)}" -- "${pointers[@]}" .gitignore
fi
"$dvc" push
echo "snapshot: $(git rev-parse --short HEAD) pushed to DVC remote '$("$dvc" remote default)'"
