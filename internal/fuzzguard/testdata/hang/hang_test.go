// Package hang is a fuzz target that hangs on any input longer than 4
// bytes, for fuzzguard's tests; seeds are shorter, so only fuzzing hangs.
package hang

import (
	"testing"
	"time"

	"pyscope/internal/fuzzguard"
)

func FuzzHang(f *testing.F) {
	f.Add([]byte("a"))
	fuzzguard.Fuzz(f, func(t *testing.T, b []byte) {
		for t0 := time.Now(); len(b) > 4 && time.Since(t0) >= 0; {
		}
	})
}
