#!/usr/bin/env bash
# Start a throwaway single-node SLURM cluster on this machine (CI / test use only).
#
#   sudo tests/slurm/cluster_up.sh [N_FAKE_GPUS]        # default 2
#
# Needs root on Debian/Ubuntu (apt-get) and no systemd. Installs (if missing)
# slurmctld slurmd slurm-client munge, writes /etc/slurm/slurm.conf + gres.conf, starts munged,
# slurmctld and slurmd bound to 127.0.0.1, and waits until the node is idle.
# One partition "debug" (default), one node = this host, N fake GPUs (gres gpu:fake:N backed by
# character devices /dev/fakegpuI), so SLURM sets CUDA_VISIBLE_DEVICES in GPU jobs.
# No accounting: use `--slurm-status-command squeue` with Snakemake's slurm executor.
#
# Environment:
#   SHARPMINIMA_SLURM_STATE  state dir (pid files, logs, spool); default /tmp/sharpminima-slurm
#   SLURM_UP_TIMEOUT         seconds to wait for the node to become idle; default 60
# Stop it with tests/slurm/cluster_down.sh (same SHARPMINIMA_SLURM_STATE).
# See /work/shared/notes/slurm-on-loopback.md for why each setting is there.
set -euo pipefail

N_GPUS="${1:-${N_FAKE_GPUS:-2}}"
STATE="${SHARPMINIMA_SLURM_STATE:-/tmp/sharpminima-slurm}"
TIMEOUT="${SLURM_UP_TIMEOUT:-60}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MARKER="# written by sharpminima tests/slurm/cluster_up.sh"
CONF=/etc/slurm/slurm.conf
GRES=/etc/slurm/gres.conf

die() { echo "cluster_up: ERROR: $*" >&2; exit 1; }
log() { echo "cluster_up: $*" >&2; }

[[ "$N_GPUS" =~ ^[0-9]+$ ]] || die "N_FAKE_GPUS must be a non-negative integer, got '$N_GPUS'"
[[ "$(id -u)" == 0 ]] || die "must run as root"

# --- refuse to clobber a real SLURM installation ---------------------------------------------
if [[ -f "$CONF" ]] && ! grep -qF "$MARKER" "$CONF"; then
  die "$CONF exists and was not written by this script; refusing to overwrite it"
fi
# an earlier cluster of ours may still be up: stop it first (idempotent re-up)
if [[ -d "$STATE" ]]; then
  "$HERE/cluster_down.sh" >/dev/null 2>&1 || true
fi
for d in slurmctld slurmd; do
  if pid=$(pgrep -x "$d" 2>/dev/null); then
    die "a $d not started by this script is already running (pid $pid); stop it first"
  fi
done

# --- packages --------------------------------------------------------------------------------
need=()
for pair in slurmctld:slurmctld slurmd:slurmd sinfo:slurm-client munged:munge; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [[ -x "/usr/sbin/${pair%%:*}" ]] || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  command -v apt-get >/dev/null 2>&1 || die "missing ${need[*]} and no apt-get to install them"
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
      || die "apt-get install ${need[*]} failed"
  fi
fi
export PATH="/usr/sbin:/sbin:$PATH"

mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"
rm -rf "$STATE/ctld" "$STATE/d" "$STATE"/*.pid "$STATE"/*.log
mkdir -p "$STATE/ctld" "$STATE/d"

# --- munge -----------------------------------------------------------------------------------
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [[ ! -s /etc/munge/munge.key ]]; then
  head -c 1024 /dev/urandom >/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
munge_pid=""
if [[ -f /run/munge/munged.pid ]] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then
  log "reusing running munged (pid $(cat /run/munge/munged.pid)); it will not be stopped by cluster_down"
else
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged --force \
    || die "munged failed to start: $(tail -n 20 /var/log/munge/munged.log 2>/dev/null)"
  for _ in $(seq 50); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.1; done
  munge_pid="$(cat /run/munge/munged.pid)"
  echo "$munge_pid" >"$STATE/munged.pid"
fi
munge -n </dev/null | unmunge >/dev/null || die "munge round trip failed"

# --- host name must resolve ------------------------------------------------------------------
HOST="$(hostname -s)"
if ! getent hosts "$HOST" >/dev/null; then
  echo "127.0.0.1 $HOST" >>/etc/hosts
  log "added '127.0.0.1 $HOST' to /etc/hosts"
fi

# --- config ----------------------------------------------------------------------------------
CPUS="$(nproc)"
MEM_MB=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 1024))
((MEM_MB > 512)) || MEM_MB=512
gres_node=""
if ((N_GPUS > 0)); then
  gres_node="Gres=gpu:fake:$N_GPUS"
  for ((i = 0; i < N_GPUS; i++)); do
    [[ -c "/dev/fakegpu$i" ]] || { rm -f "/dev/fakegpu$i"; mknod -m 666 "/dev/fakegpu$i" c 1 3; }
  done
fi
mkdir -p /etc/slurm
cat >"$CONF" <<EOF
$MARKER
# Throwaway single-node test cluster; deleted by cluster_down.sh. State: $STATE
ClusterName=sharpminima
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=600
EnforcePartLimits=ALL
DefMemPerCPU=1000
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB $gres_node State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
{
  echo "$MARKER"
  echo "AutoDetect=off"
  if ((N_GPUS == 1)); then
    echo "NodeName=$HOST Name=gpu Type=fake File=/dev/fakegpu0"
  elif ((N_GPUS > 1)); then
    echo "NodeName=$HOST Name=gpu Type=fake File=/dev/fakegpu[0-$((N_GPUS - 1))]"
  fi
} >"$GRES"

# --- daemons ---------------------------------------------------------------------------------
dump_logs() {
  for f in "$STATE/slurmctld.log" "$STATE/slurmd.log"; do
    echo "----- $f (last 30 lines) -----" >&2
    tail -n 30 "$f" >&2 2>/dev/null || echo "(missing)" >&2
  done
  echo "----- sinfo -----" >&2
  sinfo -N -l >&2 2>&1 || true
}
slurmctld -c -i || { dump_logs; die "slurmctld failed to start"; }
slurmd || { dump_logs; die "slurmd failed to start"; }

deadline=$((SECONDS + TIMEOUT))
state=""
while ((SECONDS < deadline)); do
  state="$(sinfo -h -N -o %T 2>/dev/null | head -n 1 || true)"
  [[ "$state" == idle ]] && break
  sleep 0.2
done
if [[ "$state" != idle ]]; then
  dump_logs
  die "node not idle after ${TIMEOUT}s (state '$state'); run tests/slurm/cluster_down.sh to clean up"
fi
echo "$N_GPUS" >"$STATE/n_fake_gpus"
log "up: node $HOST, $CPUS CPUs, ${MEM_MB} MB, $N_GPUS fake GPUs, partition debug, state $STATE"
echo "$STATE"
