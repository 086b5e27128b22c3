// Package gencmd is the command line every code generator (`go run ./gen`)
// shares: the generated source goes to the file its first argument names,
// or to the generator's default file.
package gencmd

import (
	"fmt"
	"os"
)

// Main writes what generate returns to os.Args[1], or to out; on failure it
// says why on one line and exits 1.
func Main(out string, generate func() ([]byte, error)) {
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	src, err := generate()
	if err == nil {
		err = os.WriteFile(out, src, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
