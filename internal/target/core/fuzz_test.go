package core

import (
	"os"
	"path/filepath"
	"testing"

	"pyscope/internal/fuzzguard"
	"pyscope/internal/target"
)

// Seeds live in testdata/fuzz: heads of real cores (pyscope's writer and
// the kernel) cut after the notes, one cut inside them, a zstd one.
func FuzzParseNotes(f *testing.F) {
	f.Add([]byte{})
	fuzzguard.Fuzz(f, func(t *testing.T, b []byte) {
		ns, _ := parseNotes(b)
		for _, arch := range []target.Arch{target.AMD64, target.ARM64} {
			n := decodeNotes(ns, arch)
			for _, th := range n.threads {
				if th.Regs == nil || th.Regs.Arch() != arch {
					t.Fatal("thread without registers of its architecture")
				}
			}
		}
		n := decodeNotes(ns, target.AMD64)
		if n.mapsText != "" {
			parseMapsText(n.mapsText)
		}
	})
}

func FuzzOpenCore(f *testing.F) {
	f.Add([]byte("\x7fELF"))
	dir := f.TempDir()
	fuzzguard.Fuzz(f, func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "core")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Open(path, Options{})
		if err != nil {
			if c != nil {
				t.Fatal("Open returned a core and an error")
			}
			return
		}
		defer c.Close()
		buf := make([]byte, 256)
		for _, m := range c.Mappings() {
			c.ReadAt(buf, m.Start)
			c.ReadAt(buf, m.End-1)
		}
		for _, th := range c.Threads() {
			if th.Regs != nil {
				c.ReadAt(buf, th.Regs.SP())
			}
		}
		c.ReadAt(buf, ^uint64(0)-10)
		c.Crash()
		c.Executable()
		c.Files()
		if fh, err := c.Open(c.Executable()); err == nil {
			fh.Close()
		}
	})
}
