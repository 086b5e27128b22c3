#!/usr/bin/env bash
# What the lock analysis costs: `pyscope dump` with it (the default) and
# without it (built with -tags nolocks), side by side in one run, on parked
# threads and on deadlocked ones; wall time, pyscope's CPU time (user +
# system: steadier than wall time on a loaded machine) and the target's pause
# (pybusy1000: a thread spinning in Python holds the GIL, so a dump stops it).
#
#   bench/locks.sh [RUNS]        (as root; needs the test set-up: scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
command -v hyperfine >/dev/null || apt-get install -y -q hyperfine >/dev/null
. bench/common.sh
build "$work/on"
build "$work/off" -tags nolocks

start() { # name python script threads depth [busy]
  "$2" "bench/targets/$3" "$4" "$5" "$work/$1.ready" "${@:6}" &
  echo $! >"$work/$1.pid"
  for _ in $(seq 400); do [ -f "$work/$1.ready" ] && return; sleep 0.05; done
  echo "target $1 did not start" >&2; exit 1
}
start deb4 $PY311 threads.py 4 10
start deb100 $PY311 threads.py 100 50
start py100 $PY314 threads.py 100 50
start pybusy1000 $PY314 threads.py 1000 20 busy
start dl100 $PY311 deadlocks.py 100 20
start pydl100 $PY314 deadlocks.py 100 20
pid() { cat "$work/$1.pid"; }

echo "| target | mode | without the analysis | with it | ratio | CPU without | CPU with | CPU ratio | pause without | pause with |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for t in deb4 deb100 py100 pybusy1000 dl100 pydl100; do
  for mode in "" "--json"; do
    hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$work/h.json" \
      "$work/off dump $mode $(pid $t)" "$work/on dump $mode $(pid $t)" >/dev/null 2>&1
    for b in off on; do
      for _ in $(seq "$RUNS"); do "$work/$b" dump --json "$(pid $t)" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("pause_us", 0))'; done >"$work/pause-$b.txt"
    done
    python3 - "$work" "$t" "${mode:-text}" <<'PY'
import json, statistics, sys
work, t, mode = sys.argv[1:]
r = json.load(open(work + "/h.json"))["results"]
off, on = r[0], r[1]
p = lambda b: statistics.median(int(x) for x in open(f"{work}/pause-{b}.txt").read().split()) / 1000
cpu = lambda r: r["user"] + r["system"]
print(f"| {t} | {mode} | {off['mean']*1000:.1f} ± {off['stddev']*1000:.1f} ms | {on['mean']*1000:.1f} ± {on['stddev']*1000:.1f} ms"
      f" | {on['mean']/off['mean']:.2f}× | {cpu(off)*1000:.1f} ms | {cpu(on)*1000:.1f} ms | {cpu(on)/cpu(off):.2f}×"
      f" | {p('off'):.2f} ms | {p('on'):.2f} ms |")
PY
  done
done
