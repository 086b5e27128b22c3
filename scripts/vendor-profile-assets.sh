#!/usr/bin/env bash
# Refreshes the third-party files internal/profile vendors, from the npm
# registry, each pinned by version and by the registry's sha512:
#   - d3 and d3-flame-graph, inlined into every `flamegraph` page
#     (internal/profile/assets/, embedded in the binary);
#   - speedscope's file-format schema, which the tests validate against
#     (internal/profile/testdata/). It is the file speedscope's site serves
#     at https://www.speedscope.app/file-format-schema.json: the site is the
#     package's dist/release.
# Run it only to move to new versions (edit the pins below), then run the
# profile tests.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fetch NAME@VERSION SHA512 -> unpacks into $tmp/NAME
fetch() {
	local spec=$1 want=$2 name=${1%@*} tgz got
	tgz=$(cd "$tmp" && npm pack --silent "$spec")
	got=sha512-$(openssl dgst -sha512 -binary "$tmp/$tgz" | base64 -w0)
	[ "$got" = "$want" ] || { echo "$spec: integrity $got, want $want" >&2; exit 1; }
	mkdir -p "$tmp/$name"
	tar xzf "$tmp/$tgz" -C "$tmp/$name"
}

fetch d3@7.9.2 sha512-ZKb/mONPVKzaO5UlcWcwN8bS4ezvQaYu+bsou+XgNABdGC800kwH651ADTbbTxMPHW13UlvbQafdmJQDk1w7Mg==
fetch d3-flame-graph@5.0.0 sha512-ALZQ4at8Dex8HCoj9D5p5TY6gLNEc2vAZAy+NKO/6GLEfhYJmGxYuRClO6RPoplndyOHxQTPipdlGeMggkjtnQ==
fetch speedscope@1.25.0 sha512-cpf9HWTZf1ijLXBJrk87Ve/54tnYx6rlf0gUThvn3ook6h63hLXVOQiMf44PT+XoV503cPfvfiT5gP5vojp6Ag==

a=internal/profile/assets
cp "$tmp/d3/package/dist/d3.min.js" "$a/d3.min.js"
cp "$tmp/d3/package/LICENSE" "$a/d3.LICENSE"
cp "$tmp/d3-flame-graph/package/dist/d3-flamegraph.umd.min.js" "$a/d3-flamegraph.min.js"
cp "$tmp/d3-flame-graph/package/LICENSE" "$a/d3-flame-graph.LICENSE"
cp "$tmp/speedscope/package/dist/release/file-format-schema.json" internal/profile/testdata/speedscope-file-format-schema.json
cat "$tmp/speedscope/package/dist/release/release.txt"
echo "vendored; update the versions in internal/profile/assets/README.md and internal/profile/testdata/README.md"
