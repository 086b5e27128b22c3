#!/bin/sh
# One `dump --native` with nothing cached (a fresh, empty PYSCOPE_CACHE),
# for bench/interleave.py to compare builds on the same target:
#
#   python3 bench/interleave.py 15 "before=bench/coldrun.sh ./before PID" "after=bench/coldrun.sh ./after PID"
#
#   bench/coldrun.sh PYSCOPE_BINARY PID
d=$(mktemp -d "${TMPDIR:-/tmp}/pyscope-cold.XXXXXX") || exit 1
PYSCOPE_CACHE=$d "$1" dump --native "$2" >/dev/null
rc=$?
rm -rf "$d"
exit $rc
