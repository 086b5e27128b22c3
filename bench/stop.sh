#!/usr/bin/env bash
# Stop only what must stop (issue 15): whole-process time of a default
# dump against CPython 3.14's RemoteUnwinder in one run, and how long each
# dump pauses the target, with idle threads and with a thread that holds
# the GIL. Markdown on stdout for docs/benchmarks.md.
#
#   bench/stop.sh [RUNS] [THREADS]     (as root; defaults 30 10000)
#
# Needs the test set-up (./scripts/test.sh once). Not a timed test.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-30}
MANY=${2:-10000}
. bench/common.sh
build "$work/pyscope"

start() { # name python threads depth [busy]
  local name=$1 py=$2; shift 2
  "$py" bench/targets/threads.py "$1" "$2" "$work/$name.ready" "${@:3}" &
  echo $! >"$work/$name.pid"
  for _ in $(seq 1200); do [ -f "$work/$name.ready" ] && break; sleep 0.1; done
  [ -f "$work/$name.ready" ] || { echo "target $name did not start" >&2; exit 1; }
  # Threads leave the start barrier one by one, each taking the GIL: wait
  # until at most the busy one runs, three samples in a row.
  local pid stable=0
  pid=$(cat "$work/$name.pid")
  for _ in $(seq 600); do
    if [ "$(cat /proc/"$pid"/task/*/stat 2>/dev/null | awk '$3 == "R"' | wc -l)" -le 1 ]; then
      stable=$((stable + 1)); [ $stable -ge 3 ] && return
    else
      stable=0
    fi
    sleep 0.2
  done
}
pid() { cat "$work/$1.pid"; }
start py100 "$PY314" 100 50

echo "machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); $("$PY314" -V)"
echo

# Whole process, side by side, interleaved run by run (bench/interleave.py).
echo "3.14.6, 100 threads × depth 50, $RUNS runs each:"
echo
python3 bench/interleave.py "$RUNS" \
  "\`pyscope dump\`=$work/pyscope dump $(pid py100)" \
  "\`pyscope dump --json\`=$work/pyscope dump --json $(pid py100)" \
  "\`pyscope dump --stop-all\`=$work/pyscope dump --stop-all $(pid py100)" \
  "\`pyscope version\` (start-up alone)=$work/pyscope version" \
  "RemoteUnwinder=$PY314 -c 'import _remote_debugging as r; r.RemoteUnwinder($(pid py100), all_threads=True).get_stack_trace()'"
echo

# Pause per dump, as pyscope reports it (pause_us; 0 when nothing stopped).
pauses() { # pid args...
  local p=$1; shift
  for _ in $(seq "$RUNS"); do
    "$work/pyscope" dump --json "$@" "$p" | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = d.get("stop", {})
print(d.get("pause_us", 0), len(s.get("stopped", [])), s.get("threads", 0), s.get("attempts", 1))'
  done >"$work/pauses.txt"
  python3 - "$work/pauses.txt" <<'EOF'
import statistics, sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
p = sorted(r[0] for r in rows)
stopped = statistics.median(r[1] for r in rows)
print(f"{statistics.median(p)/1000:.2f} ms | {p[int(0.9*(len(p)-1))]/1000:.2f} ms | {p[-1]/1000:.2f} ms | {stopped:g} of {rows[0][2]} | {sum(r[3] > 1 for r in rows)} of {len(rows)}")
EOF
}
# Started after the timing: its spinning thread takes a CPU of its own.
start py100busy "$PY314" 100 50 busy

echo "| target | dump | pause median | p90 | max | threads stopped (median) | read again |"
echo "|---|---|---|---|---|---|---|"
for t in py100 py100busy many manybusy; do
  case $t in many*) # one large target at a time
    start "$t" "$PY314" "$MANY" 5 ${t#many}
  esac
  case $t in
    py100) label="100 threads × depth 50, idle" ;;
    py100busy) label="100 threads × depth 50 + one thread holding the GIL" ;;
    many) label="$MANY threads, idle" ;;
    manybusy) label="$MANY threads + one thread holding the GIL" ;;
  esac
  echo "| $label | default | $(pauses "$(pid $t)") |"
  echo "| | \`--stop-all\` | $(pauses "$(pid $t)" --stop-all) |"
  case $t in many*) kill "$(pid $t)"; wait "$(pid $t)" 2>/dev/null || true ;; esac
done
