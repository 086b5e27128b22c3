#!/usr/bin/env bash
# Builds a wheel that carries the static pyscope binary, as py-spy and ruff
# ship theirs: the binary is the wheel's script (pyscope-V.data/scripts/), so
# `pip install`, `pipx install` and `uv tool install` put `pyscope` on PATH.
#
# usage: scripts/build-wheel.sh [OUTDIR]     (default: dist)
# It replaces any pyscope wheel already in OUTDIR, so `dist/pyscope-*.whl`
# names exactly one file.
#
# The tag is py3-none-manylinux_2_17_x86_64 (alias manylinux2014): the binary
# runs on any Python 3 (it is not an extension) and needs no libc at all
# (CGO_ENABLED=0), so the floor is Go's own: Linux 3.2, below CentOS 7's 3.10
# kernel that manylinux2014 stands for. No musllinux tag: the binary would
# start on Alpine, but pyscope has never been tested against musl-built
# CPython targets, so pip there should not pick it.
#
# The archive is made by PyPA's `wheel pack` (which writes RECORD with each
# file's sha256 and size), installed by hash into a cached venv. The version
# comes from internal/version/VERSION, the same file the binary embeds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$(realpath -m "${1:-dist}")
python=${PYTHON:-python3}
cache=${PYSCOPE_CACHE:-$HOME/.cache/pyscope}

version=$(tr -d '[:space:]' <internal/version/VERSION)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "build-wheel: internal/version/VERSION holds '$version', not MAJOR.MINOR.PATCH" >&2; exit 1; }

# The packing tool, reused while scripts/wheel-requirements.txt is unchanged.
req=scripts/wheel-requirements.txt
venv=$cache/wheel-tools-$(sha256sum "$req" | cut -c1-12)
if [ ! -e "$venv/.complete" ]; then
	rm -rf "$venv"
	"$python" -m venv "$venv" || { echo "build-wheel: '$python -m venv' failed: install python3-venv (Debian) or set PYTHON" >&2; exit 1; }
	"$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes --only-binary :all: -r "$req"
	touch "$venv/.complete"
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
data=$stage/pyscope-$version.data/scripts
info=$stage/pyscope-$version.dist-info
mkdir -p "$data" "$info" "$out"

# Static: no cgo, so no libc and no dynamic loader. -trimpath keeps build
# paths out; -s -w drop the symbol table and DWARF (Go's own tracebacks use
# pclntab, which stays).
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags='-s -w' -o "$data/pyscope" ./cmd/pyscope
chmod 755 "$data/pyscope"

cat >"$info/WHEEL" <<WHEEL
Wheel-Version: 1.0
Generator: pyscope scripts/build-wheel.sh
Root-Is-Purelib: false
Tag: py3-none-manylinux_2_17_x86_64
Tag: py3-none-manylinux2014_x86_64
WHEEL

cat >"$info/METADATA" <<METADATA
Metadata-Version: 2.1
Name: pyscope
Version: $version
Summary: Look inside a running or crashed CPython process on Linux: every thread's Python stack, without restarting it
Keywords: debugger,profiler,ptrace,core dump,stack trace,cpython
Classifier: Development Status :: 4 - Beta
Classifier: Environment :: Console
Classifier: Intended Audience :: Developers
Classifier: Intended Audience :: System Administrators
Classifier: Operating System :: POSIX :: Linux
Classifier: Programming Language :: Go
Classifier: Programming Language :: Python :: 3
Classifier: Topic :: Software Development :: Debuggers
Description-Content-Type: text/markdown

pyscope reads a CPython 3.10–3.14 process on Linux x86-64 from the outside,
live (ptrace) or from a core file, and shows every thread's Python stack,
locals and native frames. It needs no restart, no code change and no debug
symbols. This wheel carries one static binary: \`pyscope dump PID\`,
\`pyscope debug PID\` (a gdb-style session), \`pyscope gcore PID\`.
METADATA

# Reproducible: file times in the zip come from the commit being built.
SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH
rm -f "$out"/pyscope-*.whl
"$venv/bin/python" -m wheel pack "$stage" -d "$out" >/dev/null
whl=$out/pyscope-$version-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
[ -f "$whl" ] || { echo "build-wheel: wheel pack did not write $whl" >&2; exit 1; }
echo "built $whl"
echo "install it with one of:"
echo "  pip install $whl"
echo "  pipx install $whl"
echo "  uv tool install $whl"
