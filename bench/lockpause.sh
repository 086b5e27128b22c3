#!/usr/bin/env bash
# The lock analysis adds nothing to the pause (issue 11): with one thread
# spinning in Python (the GIL's holder, running), a default dump's pause
# (`pause_us`) with the analysis, without it (-tags nolocks), and as an
# earlier revision built it, interleaved dump by dump on 3.14.6 targets of
# 100 × 50, 1,000 × 20 and 10,000 × 5 threads × frames.
#
#   bench/lockpause.sh [RUNS] [REV]   (as root; defaults 20 846346a, the last
#                                      revision whose lock stage stopped the
#                                      holder for the whole read)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
REV=${2:-846346a}
. bench/common.sh
build "$work/now"
build "$work/without" -tags nolocks
git worktree add -q --detach "$work/rev" "$REV"
(cd "$work/rev" && build "$work/rev.bin")
git worktree remove --force "$work/rev"

echo "| target | build | pause median | p90 | max | late |"
echo "|---|---|---|---|---|---|"
for spec in "100 50" "1000 20" "10000 5"; do
  rm -f "$work/ready"
  # shellcheck disable=SC2086
  $PY314 bench/targets/threads.py $spec "$work/ready" busy &
  tp=$!
  for _ in $(seq 1200); do [ -f "$work/ready" ] && break; sleep 0.1; done
  sleep 3 # the threads leave the start barrier one by one
  python3 - "$tp" "$RUNS" "${spec/ / × }" "$REV" "$work" <<'PY'
import json, statistics, subprocess, sys
pid, runs, label, rev, work = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
bins = {f"{rev}": f"{work}/rev.bin", "with the analysis": f"{work}/now", "without it": f"{work}/without"}
pause = {k: [] for k in bins}
late = {k: 0 for k in bins}
for _ in range(runs):
    for k, b in bins.items():
        d = json.loads(subprocess.run([b, "dump", "--json", pid], capture_output=True, check=True).stdout)
        pause[k].append(d.get("pause_us", 0) / 1000)
        late[k] += bool(d["stop"].get("late"))
for i, (k, v) in enumerate(pause.items()):
    v.sort()
    print(f"| {label if i == 0 else ''} | {k} | {statistics.median(v):.2f} ms | {v[int(0.9 * (len(v) - 1))]:.2f} ms"
          f" | {v[-1]:.2f} ms | {late[k]} of {runs} |")
PY
  kill "$tp"; wait "$tp" 2>/dev/null || true
done
