#!/usr/bin/env bash
# The one test command: installs what the tests need, provisions the
# reference interpreters, then runs gofmt, vet, the test suite and a short
# fuzz run of every fuzz target (scripts/fuzz.sh runs them longer). Exits
# non-zero if anything failed.
#
#   ./scripts/test.sh                 everything (what CI runs)
#   ./scripts/test.sh ./internal/...  only these packages (vet, tests, fuzz)
#   FUZZTIME=30s ./scripts/test.sh    fuzz each target longer (default 3s)
set -uo pipefail
cd "$(dirname "$0")/.."

# Fuzzing is a smoke run here, kept well under the tests' time; the seed
# corpora run as ordinary tests anyway.
FUZZTIME=${FUZZTIME:-3s}
PKGS=("$@")
[ ${#PKGS[@]} = 0 ] && PKGS=(./...)
# Everything the tests use, installed up front so no test has to (and no two
# test packages race for the dpkg lock on a fresh machine).
PACKAGES=(gdb python3.11 python3.11-dbg python3.11-venv python3-venv python3-greenlet python3-gevent python3-aiohttp python3-uvloop libc6-dbg elfutils debuginfod zstd xz-utils lz4 gzip procps tmux util-linux gcc chromium qemu-user linux-libc-dev python3-gunicorn systemd strace)

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	export PATH=/usr/local/go/bin:$PATH
fi

declare -a RESULTS=()
FAILED=0
T0=$SECONDS

# Everything temporary (test binaries, the pyscope binaries tests build,
# unpacked cores and bundles, logs) goes in one directory, removed at exit
# even when a test process was killed before it could clean up.
RUN_TMP=$(mktemp -d -t pyscope-test.XXXXXX) || exit 1
chmod 1777 "$RUN_TMP" # like /tmp: some tests run targets as another user
export TMPDIR=$RUN_TMP
trap 'rm -rf "$RUN_TMP"' EXIT

# Colour only on a terminal, and never with NO_COLOR.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	BOLD=$'\033[1m' RED=$'\033[31m' GREEN=$'\033[32m' RESET=$'\033[0m'
else
	BOLD='' RED='' GREEN='' RESET=''
fi

say() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$RESET"; }

# record NAME STATUS SECONDS
record() {
	RESULTS+=("$(printf '%-6s %-44s %5ss' "$2" "$1" "$3")")
	[ "$2" = ok ] || FAILED=1
}

# step NAME CMD...: run a step, record its result.
step() {
	local name=$1 t=$SECONDS
	shift
	say "$name"
	if "$@"; then
		record "$name" ok $((SECONDS - t))
	else
		record "$name" FAIL $((SECONDS - t))
	fi
}

COUNTS=$RUN_TMP/test-counts
summary() {
	say "summary"
	printf '%s\n' "${RESULTS[@]}"
	if [ -s "$COUNTS" ]; then
		echo
		cat "$COUNTS"
	fi
	printf '\ntotal %ss\n' $((SECONDS - T0))
	if [ "$FAILED" = 0 ]; then
		printf '%sALL PASSED%s\n' "$GREEN" "$RESET"
	else
		printf '%sFAILED%s\n' "$RED" "$RESET"
	fi
}

install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} = 0 ]; then
		echo "all present: ${PACKAGES[*]}"
		return 0
	fi
	echo "installing: ${missing[*]}"
	local sudo=()
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || { echo "not root and no sudo: install ${missing[*]} yourself" >&2; return 1; }
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -q &&
		"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

check_go() {
	command -v go >/dev/null || { echo "go not found: install Go (see go.mod for the version)" >&2; return 1; }
	go version
}

gofmt_check() {
	local bad
	bad=$(find . -name '*.go' -not -path '*/testdata/*' -not -path './.git/*' -print0 | xargs -0 gofmt -l) || return 1
	[ -z "$bad" ] && return 0
	echo "not gofmt'ed (run gofmt -w):" >&2
	echo "$bad" >&2
	return 1
}

step "install Debian packages" install_packages
step "go toolchain" check_go
step "provision interpreters" go run ./internal/testenv/cmd/provision
if [ "$FAILED" != 0 ]; then
	echo "setup failed; not running the tests" >&2
	summary
	exit 1
fi
step "gofmt" gofmt_check
step "go vet" go vet "${PKGS[@]}"
# Counts per package come from go test's JSON events; the console shows what
# plain go test shows (a line per package, the output of failed tests).
# The end-to-end package runs after the others, not beside them: some of its
# tests bound pyscope's CPU time and the target's pause, and on a 2-core
# machine the other packages' tests running alongside inflated both by half.
gotest() {
	go build -o "$RUN_TMP/testreport" ./internal/testenv/cmd/testreport || return 1
	local pkgs e2e=() rest=() p
	pkgs=$(go list "${PKGS[@]}") || return 1
	for p in $pkgs; do
		if [ "$p" = pyscope/e2e ]; then e2e=("$p"); else rest+=("$p"); fi
	done
	(
		rc=0
		if [ ${#rest[@]} -gt 0 ]; then go test -json -count=1 -timeout 20m "${rest[@]}" 2>&1 || rc=1; fi
		if [ ${#e2e[@]} -gt 0 ]; then go test -json -count=1 -timeout 45m "${e2e[@]}" 2>&1 || rc=1; fi
		exit $rc
	) | "$RUN_TMP/testreport" -summary "$COUNTS"
	return "${PIPESTATUS[0]}"
}
step "go test" gotest
step "fuzz, $FUZZTIME per target" env FUZZTIME="$FUZZTIME" ./scripts/fuzz.sh "${PKGS[@]}"
summary
exit "$FAILED"
