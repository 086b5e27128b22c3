#!/usr/bin/env bash
# pyscope record and top's sampler side by side with CPython 3.14's
# RemoteUnwinder, py-spy and austin, in one run: per-sample cost, sustained
# rate, target slowdown and accuracy (bench/profiler.py says how). Prints
# Markdown tables (docs/benchmarks.md).
#
#   bench/profiler.sh [STEP...]   (as root; after scripts/test.sh; steps:
#                                  cost rate slowdown accuracy, all by default)
#
# The peers come from PyPI into a cached venv: py-spy, and austin-dist 3.7
# (4.0's wheel needs glibc 2.38, newer than Debian 12's).
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./internal/testenv/cmd/provision >/dev/null
CACHE=${PYSCOPE_CACHE:-$HOME/.cache/pyscope}
PEERS=$CACHE/bench-peers
if [ ! -e "$PEERS/.complete" ]; then
	rm -rf "$PEERS"
	python3.11 -m venv "$PEERS"
	"$PEERS/bin/pip" install -q --disable-pip-version-check --only-binary :all: py-spy==0.4.3 austin-dist==3.7.0
	touch "$PEERS/.complete"
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
go build -o "$WORK/pyscope" ./cmd/pyscope
PYSCOPE=$WORK/pyscope PY314=$CACHE/pythons/3.14.6/bin/python3.14 PY312=$CACHE/pythons/3.12.3/bin/python3.12 \
	PEERS=$PEERS/bin WORK=$WORK REPO=$PWD python3 bench/profiler.py "$@"
