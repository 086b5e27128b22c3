// Package version is pyscope's version, kept in one place: the VERSION file
// beside this source. The binary embeds it, scripts/build-wheel.sh writes it
// into the wheel's metadata, and a release is tagged v<VERSION> so the Go
// module agrees.
package version

import (
	_ "embed"
	"strings"
)

//go:embed VERSION
var file string

// Version is the release, "MAJOR.MINOR.PATCH": valid as a PEP 440 version
// (wheel metadata) and, with a leading "v", as a Go module version.
var Version = strings.TrimSpace(file)
