package unwind

import (
	"errors"

	"pyscope/internal/dwarfbuf"
)

var errTruncated = errors.New("truncated CFI")

// buf reads little-endian DWARF data; the first overrun sets Err and every
// later read returns zero.
type buf = dwarfbuf.Buf
