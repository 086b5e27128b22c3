# Sourced by bench scripts (from the repository's root): the test set-up's
# interpreters, and a work directory removed, with any target left, at exit.
go run ./internal/testenv/cmd/provision >/dev/null
CACHE=${PYSCOPE_CACHE:-$HOME/.cache/pyscope}
PY314=$CACHE/pythons/3.14.6/bin/python3.14
PY311=/usr/bin/python3.11
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# build OUT [FLAGS...]: pyscope as scripts/build-wheel.sh builds what users
# install (CGO_ENABLED=0: no dynamic loader at start-up; stripped), from
# the current directory.
build() { CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' "${@:2}" -o "$1" ./cmd/pyscope; }
