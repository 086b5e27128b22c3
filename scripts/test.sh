#!/usr/bin/env bash
# The one test command: installs what the tests need, provisions the
# reference interpreters, then runs vet, the whole test suite and a short
# fuzz run of every fuzz target. Exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-10s}
# Everything the tests use, installed up front so no test has to (and no two
# test packages race for the dpkg lock on a fresh machine).
PACKAGES=(gdb python3.11 python3.11-dbg python3.11-venv python3-venv libc6-dbg elfutils debuginfod zstd xz-utils lz4 gzip procps tmux util-linux gcc chromium qemu-user linux-libc-dev)

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	export PATH=/usr/local/go/bin:$PATH
fi

declare -a RESULTS=()
FAILED=0
T0=$SECONDS

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

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

summary() {
	say "summary"
	printf '%s\n' "${RESULTS[@]}"
	if [ -n "${TESTLOG:-}" ] && grep -qE '^(FAIL|--- FAIL)' "$TESTLOG"; then
		echo "failed tests:"
		grep -E '^(FAIL|--- FAIL)' "$TESTLOG" | sed 's/^/  /'
	fi
	printf 'total %ss\n' $((SECONDS - T0))
	if [ "$FAILED" = 0 ]; then
		printf '\033[32mALL PASSED\033[0m\n'
	else
		printf '\033[31mFAILED\033[0m\n'
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

# fuzz runs every Fuzz* target of every package for $FUZZTIME.
# fuzz_one PKG NAME fuzzes one target. Go 1.26's fuzz coordinator can end a
# run that found nothing with a bare "context deadline exceeded" when
# -fuzztime expires (golang/go#75804, fixed in Go 1.27). A real finding
# always writes its input under testdata/fuzz and prints "Failing input
# written to"; so a bare deadline error is retried once, and only a run
# with a finding, or any other failure, fails.
fuzz_one() {
	local pkg=$1 name=$2 log try
	log=$(mktemp -t pyscope-fuzz.XXXXXX)
	for try in 1 2; do
		# Short minimisation keeps the run within its time.
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 5x "$pkg" 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" = 0 ]; then
			rm -f "$log"
			return 0
		fi
		if grep -q 'Failing input written to' "$log" ||
			! grep -q 'context deadline exceeded' "$log" ||
			grep -qE '^\s*(panic:|fuzz: minimizing)|_test\.go:[0-9]+:' "$log"; then
			rm -f "$log"
			return 1
		fi
		echo "(bare 'context deadline exceeded' with no finding: golang/go#75804; try $try)"
	done
	rm -f "$log"
	return 0
}

fuzz() {
	local ok=0 pkg dir name names n=0
	while read -r pkg dir; do
		# Cheap pre-filter; `go test -list` gives the exact names.
		grep -qs '^func Fuzz' "$dir"/*_test.go || continue
		if ! names=$(go test -vet=off -list '^Fuzz' "$pkg"); then
			echo "cannot list fuzz targets of $pkg" >&2
			ok=1
			continue
		fi
		names=$(grep '^Fuzz' <<<"$names" || true)
		for name in $names; do
			n=$((n + 1))
			local t=$SECONDS
			echo "--- fuzz $pkg $name ($FUZZTIME)"
			if fuzz_one "$pkg" "$name"; then
				record "fuzz $name" ok $((SECONDS - t))
			else
				record "fuzz $name" FAIL $((SECONDS - t))
				ok=1
			fi
		done
	done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
	echo "$n fuzz targets"
	return $ok
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
step "go vet ./..." go vet ./...
TESTLOG=$(mktemp -t pyscope-test.XXXXXX)
trap 'rm -f "$TESTLOG"' EXIT
gotest() { go test -count=1 -timeout 25m ./... 2>&1 | tee "$TESTLOG"; }
step "go test ./..." gotest
say "fuzz (${FUZZTIME} each)"
t=$SECONDS
if fuzz; then record "fuzz (all targets)" ok $((SECONDS - t)); else record "fuzz (all targets)" FAIL $((SECONDS - t)); fi
summary
exit "$FAILED"
