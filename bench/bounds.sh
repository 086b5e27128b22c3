#!/usr/bin/env bash
# Resource bounds (issue 7, item 8): pyscope's own peak memory (max RSS)
# and wall time
#  1. on a live target with 10,000 threads: `dump` and `dump --json`;
#  2. on a process with a 4 GiB touched heap: `gcore` it, then `dump` the
#     core (and `dump --json` it).
# Figures come from /usr/bin/time -v. These are measurements for
# docs/reliability.md and docs/benchmarks.md, not a timed test.
#
#   bench/bounds.sh [THREADS] [HEAP_MB]     (as root; defaults 10000 4096)
#
# Needs about HEAP_MB of RAM plus HEAP_MB of free disk in $TMPDIR; the
# core is deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-10000}
HEAP_MB=${2:-4096}
PY=${PY:-/usr/bin/python3.11}
[ -x /usr/bin/time ] || apt-get install -y -q time >/dev/null
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/pyscope" ./cmd/pyscope

echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -r); $("$PY" -V) ($PY)"
echo "limits: ulimit -u $(ulimit -u), pid_max $(cat /proc/sys/kernel/pid_max), threads-max $(cat /proc/sys/kernel/threads-max)"

# measure LABEL CMD...: one line with wall time, max RSS and exit status.
measure() {
  local label=$1; shift
  local out=$work/time.out rc=0
  /usr/bin/time -v -o "$out" "$@" >"$work/stdout" 2>"$work/stderr" || rc=$?
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$out")
  printf '%-34s wall %8s  max RSS %8s MiB  exit %d  (stdout %s bytes)\n' "$label" "$wall" "$rss" "$rc" "$(wc -c <"$work/stdout")"
  [ "$rc" = 0 ] || { echo "  stderr: $(head -c 300 "$work/stderr")"; }
}

wait_ready() { # file
  for _ in $(seq 1200); do [ -f "$1" ] && return; sleep 0.1; done
  echo "target did not start ($1)" >&2; exit 1
}

# 1. Many threads: small stacks so that 10k threads fit in memory.
echo
echo "== $THREADS threads (each 5 Python frames deep, parked on an Event)"
"$PY" -c 'import sys, threading; threading.stack_size(256 << 10); sys.argv = sys.argv[1:]; exec(open(sys.argv[0]).read())' \
  bench/targets/threads.py "$THREADS" 8 "$work/threads.ready" &
tpid=$!
wait_ready "$work/threads.ready"
echo "target $tpid: $(ls /proc/$tpid/task | wc -l) threads, RSS $(awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/$tpid/status)"
for i in 1 2 3; do
  measure "dump ($i)" "$work/pyscope" dump "$tpid"
done
grep -c '^Thread ' "$work/stdout" | sed 's/^/  threads shown: /'
for i in 1 2 3; do
  measure "dump --json ($i)" "$work/pyscope" dump --json "$tpid"
done
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("  threads in JSON:", len(d["threads"]), " pause:", d.get("pause_us", "?"), "µs")' "$work/stdout"
measure "dump --no-block" "$work/pyscope" dump --no-block "$tpid"
kill "$tpid"; wait "$tpid" 2>/dev/null || true

# 2. A 4 GiB process and its core.
echo
echo "== ${HEAP_MB} MiB touched heap"
echo "free disk in ${TMPDIR:-/tmp}: $(df -h --output=avail "$work" | tail -1)"
"$PY" bench/targets/heap.py "$HEAP_MB" 8 "$work/heap.ready" &
hpid=$!
wait_ready "$work/heap.ready"
echo "target $hpid: RSS $(awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' /proc/$hpid/status)"
measure "dump (live)" "$work/pyscope" dump "$hpid"
measure "gcore" "$work/pyscope" gcore "$hpid" -o "$work/core"
sed 's/^/  /' "$work/stdout"
echo "  core: $(du -h --apparent-size "$work/core" | cut -f1) apparent, $(du -h "$work/core" | cut -f1) on disk"
kill "$hpid"; wait "$hpid" 2>/dev/null || true
measure "dump CORE (warm cache)" "$work/pyscope" dump "$work/core"
measure "dump --json CORE" "$work/pyscope" dump --json "$work/core"
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
measure "dump CORE (cold cache)" "$work/pyscope" dump "$work/core"
rm -f "$work/core"
