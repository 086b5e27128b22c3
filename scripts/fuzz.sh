#!/usr/bin/env bash
# Fuzzes every Fuzz* target of the given packages (default ./...) for
# FUZZTIME each (default 5m). scripts/test.sh runs it briefly; run it
# longer by hand, e.g.:
#   FUZZTIME=30m ./scripts/fuzz.sh ./internal/unwind
# A finding is written under the package's testdata/fuzz/FuzzName/ (commit
# it as a seed once fixed) and makes the script exit non-zero.
set -uo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-5m}
PKGS=("$@")
[ ${#PKGS[@]} = 0 ] && PKGS=(./...)

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	export PATH=/usr/local/go/bin:$PATH
fi

# fuzz_one PKG NAME fuzzes one target. Go 1.26's fuzz coordinator can end a
# run that found nothing with a bare "context deadline exceeded" when
# -fuzztime expires (golang/go#75804, fixed in Go 1.27). A real finding
# always writes its input under testdata/fuzz and prints "Failing input
# written to"; so a bare deadline error is retried once, and only a run
# with a finding, or any other failure, fails.
#
# A hang passes in Go's engine when -fuzztime ends first (its own per-input
# bound is 10 s): the progress line shows "0/sec" and the run says PASS.
# Every target runs through internal/fuzzguard, which writes a report (the
# input and all stacks) into $PYSCOPE_FUZZ_STALLS when one input runs 5 s,
# or is still running when -fuzztime ends; any report fails the target.
fuzz_one() {
	local pkg=$1 name=$2 log try stalls rc
	log=$(mktemp -t pyscope-fuzz.XXXXXX)
	stalls=$(mktemp -d -t pyscope-fuzz-stalls.XXXXXX)
	for try in 1 2; do
		# Short minimisation keeps the run within its time (by default Go
		# minimises each new input for up to 60 s, reporting no execs).
		PYSCOPE_FUZZ_STALLS=$stalls go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 5x "$pkg" 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
		if compgen -G "$stalls/*" >/dev/null; then
			echo "FAIL: $name: an input hung (fuzzguard report follows; save its input as a seed):"
			cat "$stalls"/*
			rc=stalled
			break
		fi
		if [ "$rc" = 0 ]; then
			break
		fi
		if grep -q 'Failing input written to' "$log" ||
			! grep -q 'context deadline exceeded' "$log" ||
			grep -qE '^\s*(panic:|fuzz: minimizing)|_test\.go:[0-9]+:' "$log"; then
			break
		fi
		echo "(bare 'context deadline exceeded' with no finding: golang/go#75804; try $try)"
		rc=0
	done
	rm -rf "$log" "$stalls"
	[ "$rc" = 0 ]
}

status=0
results=()
n=0
while read -r pkg dir; do
	# Cheap pre-filter; `go test -list` gives the exact names.
	grep -qs '^func Fuzz' "$dir"/*_test.go || continue
	if ! names=$(go test -vet=off -list '^Fuzz' "$pkg"); then
		echo "cannot list fuzz targets of $pkg" >&2
		status=1
		continue
	fi
	for name in $(grep '^Fuzz' <<<"$names" || true); do
		n=$((n + 1))
		t=$SECONDS
		echo "--- fuzz $pkg $name ($FUZZTIME)"
		if fuzz_one "$pkg" "$name"; then
			results+=("$(printf '%-6s %-44s %5ss' ok "$name" $((SECONDS - t)))")
		else
			results+=("$(printf '%-6s %-44s %5ss' FAIL "$name" $((SECONDS - t)))")
			status=1
		fi
	done
done < <(go list -f '{{.ImportPath}} {{.Dir}}' "${PKGS[@]}")
echo
echo "$n fuzz targets, $FUZZTIME each:"
[ $n -gt 0 ] && printf '%s\n' "${results[@]}"
exit $status
