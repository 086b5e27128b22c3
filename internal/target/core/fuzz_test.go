package core

import (
	"os"
	"path/filepath"
	"testing"
)

// Seeds live in testdata/fuzz: heads of real cores (pyscope's writer and
// the kernel) cut after the notes, one cut inside them, a zstd one.
func FuzzParseNotes(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ns, _ := parseNotes(b)
		n := decodeNotes(ns)
		for _, th := range n.threads {
			if th.Regs == nil {
				t.Fatal("thread without registers")
			}
		}
		if n.mapsText != "" {
			parseMapsText(n.mapsText)
		}
	})
}

func FuzzOpenCore(f *testing.F) {
	f.Add([]byte("\x7fELF"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
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
				c.ReadAt(buf, th.Regs.Rsp)
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
