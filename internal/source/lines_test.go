package source

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pyscope/internal/pybuilds"
)

// newlineSources end lines every way a file can.
var newlineSources = []string{
	"a = 1\rb = 2\r\nc = 3\nd = 4\n",
	"a\r\r\nb\r\r\r\nc",
	"a\n\n",
	"",
	"\n",
	"\r",
	"x",
	"a\x0cb\x0bc\x1cd\x1de\x1ef\u2028g\u2029h\u0085i\n",
	"# coding: latin-1\rx = '\xe9'\r",
	"#\r# coding: latin-1\nx = '\xe9'\n",
}

// TestLinesMatchLinecache reads files with Files and with each reference
// interpreter's linecache: the same lines, wherever Python reads the file.
func TestLinesMatchLinecache(t *testing.T) {
	dir := t.TempDir()
	var srcs []string
	srcs = append(srcs, newlineSources...)
	srcs = append(srcs, moreSources...)
	srcs = append(srcs, detectSources()...)
	var paths []string
	for i, s := range srcs {
		p := filepath.Join(dir, fmt.Sprintf("f%d.py", i))
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	const script = `import json, linecache, sys
def lines(p):
    try:
        return linecache.getlines(p)
    except Exception:  # LookupError: a cookie naming rot13 and the like
        return []
json.dump({p: lines(p) for p in sys.argv[1:]}, sys.stdout)`
	for _, minor := range pybuilds.Minors() {
		t.Run(minor, func(t *testing.T) {
			t.Parallel()
			b, err := pybuilds.Get(minor)
			if err != nil {
				t.Fatalf("provision Python %s: %v (run scripts/test.sh)", minor, err)
			}
			out, err := exec.Command(b.Python, append([]string{"-I", "-c", script}, paths...)...).Output()
			if err != nil {
				t.Fatalf("run %s: %v", b.Python, err)
			}
			var py map[string][]string
			if err := json.Unmarshal(out, &py); err != nil {
				t.Fatal(err)
			}
			files := New(func(p string) (*os.File, error) { return os.Open(p) })
			compared := 0
			for i, p := range paths {
				want := py[p]
				switch src := srcs[i]; {
				case strings.TrimPrefix(src, bom) == "":
					continue // 3.13+ give an empty file one line, older none
				case len(want) == 0:
					continue // Python could not read it
				case DetectEncoding([]byte(src)) == "euc_kr" && strings.Contains(src, "\xa4\xd4"):
					continue // a make-up sequence (knownDifference)
				}
				compared++
				for j := range want {
					want[j] = strings.TrimSuffix(want[j], "\n")
				}
				got, err := files.Lines(p)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%q: lines %q, linecache's %q", srcs[i], got, want)
				}
			}
			if compared < len(paths)/2 {
				t.Errorf("linecache read only %d of %d files", compared, len(paths))
			}
		})
	}
}

// TestZipMembersDecoded: a module imported from a zip archive is decoded
// and split as the same bytes in a plain file (the compiler read it so;
// zipimport's get_source, which only knows UTF-8, is no guide).
func TestZipMembersDecoded(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "mods.zip")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	srcs := append(append([]string{}, newlineSources...), detectSources()...)
	for i, s := range srcs {
		w, err := z.Create(fmt.Sprintf("pkg/m%d.py", i))
		if err == nil {
			_, err = w.Write([]byte(s))
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("m%d.py", i)), []byte(s), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	files := New(func(p string) (*os.File, error) { return os.Open(p) })
	for i, s := range srcs {
		plain, err1 := files.Lines(filepath.Join(dir, fmt.Sprintf("m%d.py", i)))
		zipped, err2 := files.Lines(filepath.Join(archive, fmt.Sprintf("pkg/m%d.py", i)))
		if err1 != nil || err2 != nil || !slices.Equal(plain, zipped) {
			t.Errorf("%q: plain %q (%v), zipped %q (%v)", s, plain, err1, zipped, err2)
		}
	}
}
