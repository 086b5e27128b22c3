#!/usr/bin/env bash
# Times `pyscope dump --tasks` against CPython 3.14's own `python -m asyncio
# ps` and `pstree` on a target with N pending tasks (default 10,000), in one
# run, and prints a Markdown table.
#
#   bench/tasks.sh [RUNS] [N]     (as root; needs the test set-up: scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
N=${2:-10000}
command -v hyperfine >/dev/null || apt-get install -y -q hyperfine >/dev/null
go run ./internal/testenv/cmd/provision >/dev/null
CACHE=${PYSCOPE_CACHE:-$HOME/.cache/pyscope}
PY314=$CACHE/pythons/3.14.6/bin/python3.14
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/pyscope" ./cmd/pyscope
# many_tasks.py writes its oracle once every task waits, then stays until
# its stdin closes.
sleep infinity | (cd testdata/targets && exec "$PY314" many_tasks.py "$work/oracle.json" "$N") >/dev/null &
for _ in $(seq 600); do [ -f "$work/oracle.json.tasks.json" ] && break; sleep 0.1; done
pid=$(pgrep -n -f "many_tasks.py $work/oracle.json")
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/tasks.json" \
  "$work/pyscope dump --tasks $pid" \
  "$work/pyscope dump --tasks --json $pid" \
  "$PY314 -m asyncio ps $pid" \
  "$PY314 -m asyncio pstree $pid" >/dev/null
pause=$("$work/pyscope" dump --tasks --json "$pid" | "$PY314" -c 'import json,sys; print(json.load(sys.stdin).get("pause_us", 0))')
"$PY314" - "$work/tasks.json" "$N" "$pause" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
m = {r["command"].split("/")[-1]: r for r in res}
def f(r): return "%.0f ± %.0f ms" % (r["mean"] * 1e3, r["stddev"] * 1e3)
base = res[0]["mean"]
print("| command (%s tasks, 3.14.6) | time | ÷ pyscope dump --tasks |" % sys.argv[2])
print("|---|---|---|")
for r in res:
    print("| `%s` | %s | %.2f× |" % (r["command"].split("/")[-1].replace(" %s" % r["command"].split()[-1], " PID"), f(r), r["mean"] / base))
print()
print("pyscope's pause (target stopped): %.0f ms" % (int(sys.argv[3]) / 1000))
PY
