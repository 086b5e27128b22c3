#!/usr/bin/env bash
# Times `pyscope dump` side by side with its peers on the same targets, in
# one run, and prints a Markdown table of means and ratios.
#
#   bench/run.sh [RUNS]        (as root; needs the test set-up: scripts/test.sh)
#
# Peers: gdb's `thread apply all py-bt` (and `bt` for --native) on Debian's
# python3.11 with python3.11-dbg, and CPython 3.14's own
# _remote_debugging.RemoteUnwinder. Also: the interactive session's latency.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
command -v hyperfine >/dev/null || apt-get install -y -q hyperfine >/dev/null
. bench/common.sh
go build -o "$work/pyscope" ./cmd/pyscope

start() { # name python threads depth
  "$2" bench/targets/threads.py "$3" "$4" "$work/$1.ready" &
  echo $! >"$work/$1.pid"
  for _ in $(seq 200); do [ -f "$work/$1.ready" ] && return; sleep 0.05; done
  echo "target $1 did not start" >&2; exit 1
}
start deb4 $PY311 4 10
start deb100 $PY311 100 50
start py4 $PY314 4 10
start py100 $PY314 100 50
pid() { cat "$work/$1.pid"; }

hf() { # name cmd...
  local name=$1; shift
  hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$work/$name.json" "$@" >/dev/null 2>&1 ||
    hyperfine --warmup 2 --runs "$RUNS" --export-json "$work/$name.json" "$@" >/dev/null
}
for t in deb4 deb100 py4 py100; do
  hf "pyscope-$t" "$work/pyscope dump $(pid $t)"
  hf "pyscope-json-$t" "$work/pyscope dump --json $(pid $t)"
  hf "pyscope-noblock-$t" "$work/pyscope dump --json --no-block $(pid $t)"
  hf "pyscope-locals-$t" "$work/pyscope dump --json --locals $(pid $t)"
  hf "pyscope-native-$t" "$work/pyscope dump --native $(pid $t)"
done
gdbruns=$(( RUNS < 5 ? RUNS : 5 ))
for t in deb4 deb100; do
  RUNS=$gdbruns hf "gdb-$t" "gdb -batch -nx -p $(pid $t) -ex 'thread apply all py-bt'"
done
for t in deb4 deb100 py4 py100; do
  RUNS=$gdbruns hf "gdbbt-$t" "gdb -batch -nx -p $(pid $t) -ex 'thread apply all bt'"
done
for t in py4 py100; do
  hf "remote-$t" "$PY314 -c 'import _remote_debugging as r; r.RemoteUnwinder($(pid $t), all_threads=True).get_stack_trace()'"
done
# Target pause, as pyscope measures it (median of RUNS dumps).
for t in deb4 deb100 py4 py100; do
  for _ in $(seq "$RUNS"); do "$work/pyscope" dump --json "$(pid $t)" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("pause_us", 0))'; done >"$work/pause-$t.txt"
  for _ in $(seq "$RUNS"); do "$work/pyscope" dump --locals --json "$(pid $t)" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("pause_us", 0))'; done >"$work/pause-locals-$t.txt"
done
for t in deb4 deb100 py4 py100; do
  for _ in $(seq "$RUNS"); do "$work/pyscope" dump --native --json "$(pid $t)" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("pause_us", 0))'; done >"$work/pause-native-$t.txt"
done
python3 bench/summarize.py "$work"
# The session: time to the first prompt and py-print latency on a big dict.
# (its stdin must stay open: the target ends at EOF)
tail -f /dev/null | "$PY314" testdata/targets/session.py "$work/session.json" big >"$work/session.out" &
spid=$!
for _ in $(seq 400); do grep -q ready "$work/session.out" 2>/dev/null && break; sleep 0.05; done
echo
python3 bench/session.py "$work/pyscope" "$spid"
kill "$spid" 2>/dev/null || true
