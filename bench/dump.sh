#!/usr/bin/env bash
# A plain dump against CPython 3.14's RemoteUnwinder (issue 15's speed
# goal): whole-process CPU (user + system) and wall time of `pyscope dump`
# and `dump --json` on 100 threads × 50 frames, commands interleaved run by
# run (bench/interleave.py), on 3.14.6 next to
# `RemoteUnwinder(pid, all_threads=True).get_stack_trace()`, and on
# Debian's 3.11 (RemoteUnwinder reads only its own version). With a git
# ref, that build is timed in the same run too ("before"). Both are built
# as the wheel is.
#
#   bench/dump.sh [RUNS] [REF]      (as root; defaults 30 and none)
#
# Needs the test set-up (./scripts/test.sh once). Not a timed test.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-30}
REF=${2:-}
. bench/common.sh # build: as scripts/build-wheel.sh builds what users install
build "$work/pyscope"
if [ -n "$REF" ]; then
  mkdir "$work/ref"
  git archive "$REF" | tar -x -C "$work/ref"
  (cd "$work/ref" && build "$work/pyscope-ref")
fi

start() { # name python
  "$2" bench/targets/threads.py 100 50 "$work/$1.ready" &
  echo $! >"$work/$1.pid"
  for _ in $(seq 600); do [ -f "$work/$1.ready" ] && break; sleep 0.1; done
  [ -f "$work/$1.ready" ] || { echo "target $1 did not start" >&2; exit 1; }
  # Threads leave the start barrier one by one: wait until none runs,
  # three samples in a row.
  local pid stable=0
  pid=$(cat "$work/$1.pid")
  for _ in $(seq 600); do
    if [ "$(cat /proc/"$pid"/task/*/stat 2>/dev/null | awk '$3 == "R"' | wc -l)" -eq 0 ]; then
      stable=$((stable + 1)); [ $stable -ge 3 ] && return
    else
      stable=0
    fi
    sleep 0.2
  done
}
start py314 "$PY314"
start py311 "$PY311"
pid() { cat "$work/$1.pid"; }

echo "machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); $("$PY314" -V); pyscope $(git rev-parse --short HEAD)${REF:+, before: $REF ($(git rev-parse --short "$REF"))}"
echo
for t in py314 py311; do
  args=("\`pyscope version\` (start-up alone)=$work/pyscope version")
  if [ -n "$REF" ]; then
    args+=("\`dump\` before=$work/pyscope-ref dump $(pid $t)"
      "\`dump --json\` before=$work/pyscope-ref dump --json $(pid $t)")
  fi
  args+=("\`dump --json\`=$work/pyscope dump --json $(pid $t)"
    "\`dump\`=$work/pyscope dump $(pid $t)")
  if [ $t = py314 ]; then
    echo "3.14.6, 100 threads × depth 50, $RUNS runs each:"
    args+=("RemoteUnwinder=$PY314 -c 'import _remote_debugging as r; r.RemoteUnwinder($(pid $t), all_threads=True).get_stack_trace()'")
  else
    echo "$("$PY311" -V) (Debian), 100 threads × depth 50, $RUNS runs each:"
  fi
  echo
  python3 bench/interleave.py "$RUNS" "${args[@]}"
  echo
done
