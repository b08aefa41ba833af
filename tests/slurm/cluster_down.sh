#!/usr/bin/env bash
# Stop the test cluster started by cluster_up.sh and delete /etc/slurm/slurm.conf.
# Idempotent: safe to run when nothing is up. Only stops daemons by the PIDs recorded in the state
# dir (SHARPMINIMA_SLURM_STATE, default /tmp/sharpminima-slurm), and only deletes slurm.conf /
# gres.conf written by cluster_up.sh. Deleting slurm.conf matters: while it exists with no
# slurmctld, every `snakemake` call is ~9 s slower (the slurm plugin runs `scontrol show config`).
set -uo pipefail

STATE="${SHARPMINIMA_SLURM_STATE:-/tmp/sharpminima-slurm}"
MARKER="# written by sharpminima tests/slurm/cluster_up.sh"
log() { echo "cluster_down: $*" >&2; }

export PATH="/usr/sbin:/sbin:$PATH"
# Cancel leftover jobs (an interrupted test) while slurmctld is still up, so no job keeps running.
if [[ -f "$STATE/slurmctld.pid" && -f /etc/slurm/slurm.conf ]] &&
  [[ "$(cat "/proc/$(tr -dc 0-9 <"$STATE/slurmctld.pid")/comm" 2>/dev/null)" == slurmctld ]]; then
  if [[ -n "$(timeout 5 squeue -h -o %i 2>/dev/null)" ]]; then
    log "cancelling leftover jobs: $(timeout 5 squeue -h -o %i | tr '\n' ' ')"
    timeout 5 scancel --partition=debug 2>/dev/null
    for _ in $(seq 50); do
      [[ -z "$(timeout 5 squeue -h -t PENDING,RUNNING,COMPLETING -o %i 2>/dev/null)" ]] && break
      sleep 0.1
    done
  fi
fi

# Each daemon takes 1-2 s to exit after SIGTERM, so signal all of them, then wait for all.
# A PID is only signalled if its command name matches, so a recycled PID is never killed.
pids=()
for name in slurmd slurmctld munged; do
  pf="$STATE/$name.pid"
  [[ -f "$pf" ]] || continue
  pid="$(tr -dc 0-9 <"$pf")"
  if [[ -n "$pid" ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]; then
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid:$name")
  fi
  rm -f "$pf"
done
for _ in $(seq 100); do # up to 10 s
  alive=0
  for pn in "${pids[@]}"; do [[ -d "/proc/${pn%%:*}" ]] && alive=1; done
  ((alive)) || break
  sleep 0.1
done
for pn in "${pids[@]}"; do
  if [[ -d "/proc/${pn%%:*}" ]]; then
    log "${pn#*:} (pid ${pn%%:*}) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "${pn%%:*}" 2>/dev/null
    for _ in $(seq 50); do [[ -d "/proc/${pn%%:*}" ]] || break; sleep 0.1; done
  fi
done

for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
  if [[ -f "$f" ]] && grep -qF "$MARKER" "$f"; then
    rm -f "$f"
  elif [[ -f "$f" ]]; then
    log "leaving $f alone: not written by cluster_up.sh"
  fi
done
if [[ -f "$STATE/n_fake_gpus" ]]; then
  n="$(tr -dc 0-9 <"$STATE/n_fake_gpus")"
  for ((i = 0; i < ${n:-0}; i++)); do
    [[ -c "/dev/fakegpu$i" ]] && rm -f "/dev/fakegpu$i"
  done
  rm -f "$STATE/n_fake_gpus"
fi
# logs stay in $STATE for post-mortems; the spool dirs are cleared by the next cluster_up.sh
log "down (state dir $STATE)"
exit 0
