package unwind

import (
	"errors"
	"fmt"

	"pyscope/internal/dwarfbuf"
)

var errTruncated = errors.New("truncated CFI")

// buf is the CFI parser's and the expression evaluator's reader.
type buf = dwarfbuf.Buf

// cfiErr says a read error was the CFI's.
func cfiErr(err error) error {
	if errors.Is(err, dwarfbuf.ErrTruncated) {
		return errTruncated
	}
	return fmt.Errorf("CFI: %w", err)
}
