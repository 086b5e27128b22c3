# Sourced by core.sh and gcore.sh: Debian's python3.11 running
# bench/targets/heap.py, a work directory removed with the targets at exit,
# the target's own measure of its longest stop, and the tables' helpers.
#
#   start NAME HEAP_MB [random]   heap.py with a touched (or random) heap
#   gap NAME                      its longest stop since the last call, ms
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || apt-get install -y -q "$p" >/dev/null
done
PY=/usr/bin/python3.11
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/pyscope" ./cmd/pyscope

start() {
  "$PY" bench/targets/heap.py "$2" 8 "$work/$1.ready" ${3:-} &
  echo $! >"$work/$1.pid"
  # A random heap of several GB takes a while to fill.
  for _ in $(seq 1200); do [ -f "$work/$1.ready" ] && return; sleep 0.1; done
  echo "target $1 did not start" >&2; exit 1
}
pid() { cat "$work/$1.pid"; }
gap() {
  rm -f "$work/$1.ready.gap"; kill -USR1 "$(pid "$1")"
  for _ in $(seq 100); do [ -f "$work/$1.ready.gap" ] && break; sleep 0.02; done
  cat "$work/$1.ready.gap"
}
now() { date +%s%N; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }
# median (min-max)
stat3() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {printf "%.1f (%.1f-%.1f)", v[int((NR+1)/2)], v[1], v[NR]}'; }
