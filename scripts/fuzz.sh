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
