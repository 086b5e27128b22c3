#!/usr/bin/env bash
# Issue 15 benchmarks, side by side in one run:
#  1. gcore of a process with a HEAP_MB heap of random bytes: pyscope gcore
#     (default: copy while stopped), --fork, --no-copy (the core written
#     while stopped, as before), and gdb's gcore. "Stopped" is measured
#     inside the target: the longest gap of a 1 ms ticker.
#  2. A first `dump --native` of Debian's python3.11 with python3.11-dbg
#     and libc6-dbg, nothing cached (empty PYSCOPE_CACHE), then a warm one:
#     CPU time (user + sys) and peak RSS of the pyscope process.
#  3. A bundle of the HEAP_MB process opened twice, and its unpacked core.
#
#   bench/gcore.sh [RUNS] [HEAP_MB]      (as root)
#
# Needs about 2 × HEAP_MB of free memory (target and copy) and 3 × HEAP_MB
# of free disk in $TMPDIR; everything is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
HEAP_MB=${2:-5120}
. bench/heaptarget.sh gdb python3.11-dbg libc6-dbg time
row() { printf '| %s | %s | %s | %s |\n' "$@"; }

start big "$HEAP_MB" random
echo "## gcore of a ${HEAP_MB} MiB heap of random bytes: target stopped and wall time (median of $RUNS, min-max)"
echo
row tool "target stopped ms (inside)" "pyscope says stopped" "wall ms"
row --- ---: ---: ---:
for tool in "pyscope gcore" "pyscope gcore --fork" "pyscope gcore --no-copy" "gdb gcore"; do
  walls=(); pauses=(); said=()
  for _ in $(seq "$RUNS"); do
    rm -f "$work/big.core"; sync
    gap big >/dev/null
    a=$(now)
    case $tool in
      "pyscope gcore") out=$("$work/pyscope" gcore "$(pid big)" -o "$work/big.core" 2>/dev/null) ;;
      "pyscope gcore --fork") out=$("$work/pyscope" gcore --fork "$(pid big)" -o "$work/big.core" 2>/dev/null) ;;
      "pyscope gcore --no-copy") out=$("$work/pyscope" gcore --no-copy "$(pid big)" -o "$work/big.core" 2>/dev/null) ;;
      "gdb gcore") out=""; gdb -batch -nx -p "$(pid big)" -ex "gcore $work/big.core" >/dev/null 2>&1 ;;
    esac
    b=$(now)
    walls+=("$(ms "$a" "$b")"); pauses+=("$(gap big)")
    said+=("$(echo "$out" | sed -n 's/.*stopped for \(.*\)$/\1/p')")
  done
  row "$tool" "$(stat3 "${pauses[@]}")" "${said[*]:-—}" "$(stat3 "${walls[@]}")"
done
echo
rm -f "$work/big.core"

echo "## bundle of the ${HEAP_MB} MiB heap: first and second open"
echo
"$work/pyscope" gcore --bundle "$(pid big)" -o "$work/big.tar.zst" >/dev/null 2>&1
kill "$(pid big)"; wait "$(pid big)" 2>/dev/null || true
export PYSCOPE_CACHE="$work/cache"
row case "wall s" "CPU s (user+sys)" "peak RSS MiB"
row --- ---: ---: ---:
timed() { # label cmd...: one row from /usr/bin/time
  /usr/bin/time -f "%e %U %S %M" -o "$work/t" "${@:2}" >/dev/null 2>&1
  read -r e u s m <"$work/t"
  row "$1" "$e" "$(echo "$u + $s" | bc)" "$((m / 1024))"
}
timed "dump BUNDLE, first open ($(du -h "$work/big.tar.zst" | cut -f1) bundle)" "$work/pyscope" dump "$work/big.tar.zst"
timed "dump BUNDLE, second open" "$work/pyscope" dump "$work/big.tar.zst"
d=$(ls -d "$PYSCOPE_CACHE"/bundles/sha256-*)
timed "dump of the unpacked core alone" "$work/pyscope" dump --sysroot "$d/root" "$d/core"
echo

echo "## dump --native of Debian's python3.11 (python3.11-dbg, libc6-dbg), cold and warm"
echo
"$PY" bench/targets/threads.py 4 10 "$work/threads.ready" &
echo $! >"$work/threads.pid"
for _ in $(seq 300); do [ -f "$work/threads.ready" ] && break; sleep 0.1; done
row case "wall s" "CPU s (user+sys)" "peak RSS MiB"
row --- ---: ---: ---:
for i in $(seq "$RUNS"); do
  export PYSCOPE_CACHE="$work/cold$i"
  timed "first run, nothing cached ($i)" "$work/pyscope" dump --native "$(pid threads)"
done
timed "later run (symbols and layout cached)" "$work/pyscope" dump --native "$(pid threads)"
/usr/bin/time -f "%e %U %S %M" -o "$work/t" gdb -batch -nx -p "$(pid threads)" -ex "thread apply all bt" >/dev/null 2>&1
read -r e u s m <"$work/t"
row "gdb thread apply all bt" "$e" "$(echo "$u + $s" | bc)" "$((m / 1024))"
kill "$(pid threads)"
