package version

import (
	"regexp"
	"testing"
)

// TestVersionForm: the one version must be valid both for Python packaging
// (PEP 440) and for Go modules (semantic versioning with a "v"), which only
// plain MAJOR.MINOR.PATCH satisfies without translation.
func TestVersionForm(t *testing.T) {
	if !regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`).MatchString(Version) {
		t.Fatalf("VERSION %q is not MAJOR.MINOR.PATCH", Version)
	}
}
