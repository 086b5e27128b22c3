#!/usr/bin/env bash
# Post-mortem benchmarks, side by side in one run:
#  1. `pyscope dump CORE` on a small core and on a core of a process with a
#     2 GiB touched heap (warm and cold page cache): the times should be
#     about equal, as only the pages needed are read.
#  2. gdb -batch EXE CORE -ex "thread apply all py-bt" on the same cores
#     (Debian's python3.11 with python3.11-dbg).
#  3. `pyscope gcore` vs gdb's gcore on both processes: wall time and how
#     long the target was stopped, measured from inside the target (the
#     longest gap of a 1 ms ticker).
#
#   bench/core.sh [RUNS] [HEAP_MB]      (as root; Debian python3.11 + dbg, gdb)
#
# Needs about 3 × HEAP_MB of free disk in $TMPDIR; everything is removed at
# the end.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
HEAP_MB=${2:-2048}
. bench/heaptarget.sh hyperfine gdb python3.11-dbg

start small 0
start big "$HEAP_MB"
gruns=$(( RUNS < 5 ? RUNS : 5 ))
echo "## gcore: wall time and target pause (median of $gruns runs, min-max)"
echo
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }
row target tool "core size" "wall ms" "target stopped ms"
row --- --- ---: ---: ---:
for t in small big; do
  for tool in pyscope gdb; do
    walls=(); pauses=()
    for _ in $(seq "$gruns"); do
      rm -f "$work/$t.$tool.core"
      gap "$t" >/dev/null
      a=$(now)
      if [ $tool = pyscope ]; then
        "$work/pyscope" gcore "$(pid $t)" -o "$work/$t.$tool.core" >/dev/null
      else
        gdb -batch -nx -p "$(pid $t)" -ex "gcore $work/$t.$tool.core" >/dev/null 2>&1
      fi
      b=$(now)
      walls+=("$(ms "$a" "$b")"); pauses+=("$(gap "$t")")
    done
    row "$t" "$tool gcore" "$(du -h --apparent-size "$work/$t.$tool.core" | cut -f1)" "$(stat3 "${walls[@]}")" "$(stat3 "${pauses[@]}")"
  done
done
echo
# Keep pyscope's cores for the dump timings; gdb's are not needed any more.
rm -f "$work"/*.gdb.core
kill "$(pid small)" "$(pid big)"; wait 2>/dev/null || true

echo "## dump of a core: pyscope vs gdb py-bt ($RUNS runs; gdb $gruns)"
echo
hyperfine -N --warmup 2 --runs "$RUNS" --export-markdown "$work/warm.md" \
  -n "pyscope dump small core" "$work/pyscope dump $work/small.pyscope.core" \
  -n "pyscope dump big core" "$work/pyscope dump $work/big.pyscope.core" >/dev/null
cat "$work/warm.md"; echo
hyperfine -N --runs "$RUNS" --prepare 'sh -c "sync; echo 3 > /proc/sys/vm/drop_caches"' --export-markdown "$work/cold.md" \
  -n "pyscope dump small core (cold cache)" "$work/pyscope dump $work/small.pyscope.core" \
  -n "pyscope dump big core (cold cache)" "$work/pyscope dump $work/big.pyscope.core" >/dev/null
cat "$work/cold.md"; echo
hyperfine --warmup 1 --runs "$gruns" --export-markdown "$work/gdb.md" \
  -n "gdb py-bt small core" "gdb -batch -nx $PY $work/small.pyscope.core -ex 'thread apply all py-bt'" \
  -n "gdb py-bt big core" "gdb -batch -nx $PY $work/big.pyscope.core -ex 'thread apply all py-bt'" \
  -n "pyscope dump big core" "$work/pyscope dump $work/big.pyscope.core" >/dev/null
cat "$work/gdb.md"
echo
ls -l --block-size=M "$work"/*.core | awk '{print "core:", $5, $9}'
