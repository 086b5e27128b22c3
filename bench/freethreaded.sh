#!/usr/bin/env bash
# Times `pyscope dump` on the free-threaded 3.13.5t next to the GIL build
# 3.13.1, with 4 and 100 parked threads, in one run, and prints a Markdown
# table: wall time (hyperfine) and target pause (median pause_us), plain
# and with --locals, and the 3.13t ÷ 3.13 ratios.
#
#   bench/freethreaded.sh [RUNS]   (as root; needs the test set-up: scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-15}
command -v hyperfine >/dev/null || apt-get install -y -q hyperfine >/dev/null
go run ./internal/testenv/cmd/provision >/dev/null
CACHE=${PYSCOPE_CACHE:-$HOME/.cache/pyscope}
PY313=$CACHE/pythons/3.13.1/bin/python3.13
PY313T=$CACHE/pythons/3.13.5t/bin/python3.13t
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/pyscope" ./cmd/pyscope

start() { # name python threads depth
  "$2" bench/targets/threads.py "$3" "$4" "$work/$1.ready" &
  echo $! >"$work/$1.pid"
  for _ in $(seq 200); do [ -f "$work/$1.ready" ] && return; sleep 0.05; done
  echo "target $1 did not start" >&2
  exit 1
}
start gil4 "$PY313" 4 10
start gil100 "$PY313" 100 50
start ft4 "$PY313T" 4 10
start ft100 "$PY313T" 100 50
pid() { cat "$work/$1.pid"; }

hf() { # name cmd
  hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$work/$1.json" "$2" >/dev/null 2>&1 ||
    hyperfine --warmup 2 --runs "$RUNS" --export-json "$work/$1.json" "$2" >/dev/null
}
for t in gil4 ft4 gil100 ft100; do
  hf "dump-$t" "$work/pyscope dump --json $(pid $t)"
  hf "locals-$t" "$work/pyscope dump --json --locals $(pid $t)"
  for _ in $(seq "$RUNS"); do "$work/pyscope" dump --json "$(pid $t)"; done |
    python3 -c 'import json,sys; print("\n".join(str(json.loads(l)["pause_us"]) for l in sys.stdin))' >"$work/pause-dump-$t.txt"
  for _ in $(seq "$RUNS"); do "$work/pyscope" dump --json --locals "$(pid $t)"; done |
    python3 -c 'import json,sys; print("\n".join(str(json.loads(l)["pause_us"]) for l in sys.stdin))' >"$work/pause-locals-$t.txt"
done

python3 - "$work" <<'EOF'
import json, statistics, sys
w = sys.argv[1]
def wall(name):
    r = json.load(open(f"{w}/{name}.json"))["results"][0]
    return r["mean"] * 1000, r["stddev"] * 1000
def pause(name):
    return statistics.median(int(x) for x in open(f"{w}/pause-{name}.txt")) / 1000
print("| target | mode | 3.13.1 wall | 3.13.5t wall | ratio | 3.13.1 pause | 3.13.5t pause | ratio |")
print("|---|---|---|---|---|---|---|---|")
for n, label in (("4", "4 threads × depth 10"), ("100", "100 threads × depth 50")):
    for mode in ("dump", "locals"):
        gw, gs = wall(f"{mode}-gil{n}")
        fw, fs = wall(f"{mode}-ft{n}")
        gp, fp = pause(f"{mode}-gil{n}"), pause(f"{mode}-ft{n}")
        m = "`--json`" if mode == "dump" else "`--json --locals`"
        print(f"| {label} | {m} | {gw:.1f} ± {gs:.1f} ms | {fw:.1f} ± {fs:.1f} ms | {fw/gw:.2f}× | {gp:.2f} ms | {fp:.2f} ms | {fp/gp:.2f}× |")
EOF
