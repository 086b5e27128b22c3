// Package version is pyscope's version, kept in one place: the VERSION file
// beside this source. The binary embeds it and scripts/build-wheel.sh writes
// it into the wheel's metadata. The Go module has no version: its path names
// no repository, and no release is tagged.
package version

import (
	_ "embed"
	"strings"
)

//go:embed VERSION
var file string

// Version is the release, "MAJOR.MINOR.PATCH": valid as a PEP 440 version
// (wheel metadata) and, with a leading "v", as a Go module version should a
// release ever be tagged.
var Version = strings.TrimSpace(file)
