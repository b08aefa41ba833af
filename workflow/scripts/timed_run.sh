#!/usr/bin/env bash
# Run a pipeline command and record what produced it: results/report/run.json holds the command,
# the commit, the machine, the start time and the measured wall time (for docs/reference/).
# Usage: timed_run.sh "<command as the user types it>" <command> [args...]
set -euo pipefail
label=$1; shift
start=$(date -u +%s)
started=$(date -u +%Y-%m-%dT%H:%M:%S)
"$@"
end=$(date -u +%s)
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null || true)
dirty=false
git diff --quiet HEAD -- src workflow config Snakefile 2>/dev/null || dirty=true
mkdir -p results/report
python3 - "$label" "$started" "$((end - start))" "$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    "$dirty" "${cpu:-unknown CPU}, $(nproc) cores, ${mem:-? GiB}" <<'PY'
import json, sys
label, started, wall, commit, dirty, machine = sys.argv[1:]
json.dump({"command": label, "started": started, "wall_s": int(wall), "commit": commit,
           "dirty": dirty == "true", "machine": machine},
          open("results/report/run.json", "w"), indent=2)
PY
echo "wall time: $((end - start)) s (results/report/run.json)"
