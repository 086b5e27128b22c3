//go:build !amd64 && !arm64

package live

import (
	"fmt"
	"runtime"

	"pyscope/internal/target"
)

// getRegs: pyscope has no register type for this architecture, so threads
// have no registers (no native stacks).
func getRegs(tid int) (target.Regs, error) {
	return nil, fmt.Errorf("registers of %s are not supported", runtime.GOARCH)
}
