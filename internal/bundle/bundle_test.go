package bundle

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"pyscope/internal/fuzzguard"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	core := filepath.Join(dir, "core")
	data := append(make([]byte, 1<<17), []byte("\x7fELF tail")...) // a hole, then data
	os.WriteFile(core, data, 0o600)
	lib := filepath.Join(dir, "libfoo.so")
	os.WriteFile(lib, []byte("library bytes"), 0o644)
	libTime := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	os.Chtimes(lib, libTime, libTime)
	out := filepath.Join(dir, "b.tar.zst")
	var warns []string
	_, err := Write(out, core, []File{
		{Path: "/usr/lib/libfoo.so", Local: lib},
		{Path: "/gone", Local: filepath.Join(dir, "nope")},
	}, Manifest{PID: 42}, func(s string) { warns = append(warns, s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "/gone") {
		t.Errorf("warnings %q, want one about /gone", warns)
	}
	if !Is(out) || Is(core) || Is(lib) {
		t.Fatalf("Is: bundle %v, core %v, lib %v", Is(out), Is(core), Is(lib))
	}
	b, err := Open(out, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(b.Core); !bytes.Equal(got, data) {
		t.Errorf("core differs after the round trip")
	}
	if got, _ := os.ReadFile(filepath.Join(b.Root, "usr/lib/libfoo.so")); string(got) != "library bytes" {
		t.Errorf("library: %q", got)
	}
	// Unpacked files keep their modification time (sources are checked
	// against the core's).
	if st, err := os.Stat(filepath.Join(b.Root, "usr/lib/libfoo.so")); err != nil || !st.ModTime().Equal(libTime) {
		t.Errorf("library unpacked with time %v, want %v", st.ModTime(), libTime)
	}
	if b.Manifest.PID != 42 || len(b.Manifest.Files) != 1 || b.Truncated != "" {
		t.Errorf("manifest %+v, truncated %q", b.Manifest, b.Truncated)
	}
	b.Close()
	if _, err := os.Stat(b.Dir); !os.IsNotExist(err) {
		t.Errorf("Close left %s", b.Dir)
	}
}

// rawBundle builds an archive entry by entry, as an attacker could.
func rawBundle(t testing.TB, entries ...[2]string) []byte {
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		tw.WriteHeader(&tar.Header{Name: e[0], Mode: 0o644, Size: int64(len(e[1])), Typeflag: tar.TypeReg})
		tw.Write([]byte(e[1]))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestHostileEntries(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "evil.tar.zst")
	os.WriteFile(p, rawBundle(t,
		[2]string{manifestName, `{"version":1}`},
		[2]string{"core", "x"},
		[2]string{"root/../../../escaped", "no"},
		[2]string{"../escaped2", "no"},
		[2]string{"/abs", "no"},
	), 0o644)
	b, err := Open(p, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, f := range []string{filepath.Join(dir, "escaped"), filepath.Join(dir, "escaped2"), "/abs", filepath.Join(filepath.Dir(dir), "escaped")} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("entry escaped to %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(b.Root, "escaped")); err != nil {
		t.Errorf("confined entry not unpacked under the root: %v", err)
	}
	// No manifest first: not a bundle.
	os.WriteFile(p, rawBundle(t, [2]string{"core", "x"}), 0o644)
	if Is(p) {
		t.Error("archive without manifest taken for a bundle")
	}
	if _, err := Open(p, dir); err == nil {
		t.Error("Open accepted an archive without manifest")
	}
}

func FuzzOpen(f *testing.F) {
	f.Add(rawBundle(f, [2]string{manifestName, `{"version":1}`}, [2]string{"core", "\x7fELF"}, [2]string{"root/a/b", "c"}))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd})
	fuzzguard.Fuzz(f, func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "f.tar.zst")
		os.WriteFile(p, data, 0o644)
		Is(p)
		if b, err := Open(p, dir); err == nil {
			b.Close()
		}
	})
}

// writeTestBundle writes a small bundle holding core bytes.
func writeTestBundle(t *testing.T, dir, name string, core []byte) string {
	t.Helper()
	cp := filepath.Join(dir, name+".core")
	os.WriteFile(cp, core, 0o600)
	out := filepath.Join(dir, name+".tar.zst")
	if _, err := Write(out, cp, nil, Manifest{PID: 7}, nil); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCachedOpen: a bundle is unpacked once into a private cache directory
// named by its checksum; a second open (also of a copy) finds it there,
// Close keeps it, and a bundle whose bytes no longer match its checksum is
// refused.
func TestCachedOpen(t *testing.T) {
	cacheDir := t.TempDir()
	t.Setenv("PYSCOPE_CACHE", cacheDir)
	dir := t.TempDir()
	data := append(make([]byte, 1<<16), "core bytes"...)
	p := writeTestBundle(t, dir, "a", data)

	b, err := Open(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.Dir, filepath.Join(cacheDir, "bundles", "sha256-")) {
		t.Errorf("unpacked in %s, not in the cache by checksum", b.Dir)
	}
	if got, _ := os.ReadFile(b.Core); !bytes.Equal(got, data) {
		t.Error("cached core differs")
	}
	if fi, err := os.Stat(filepath.Join(cacheDir, "bundles")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory mode %v (%v), want 0700: cores hold secrets", fi.Mode().Perm(), err)
	}
	first, _ := os.Stat(b.Core)
	b.Close()
	if _, err := os.Stat(b.Core); err != nil {
		t.Fatalf("Close removed the cached bundle: %v", err)
	}

	// A copy elsewhere: the same content, the same directory, no unpack.
	cp := filepath.Join(t.TempDir(), "copy.tar.zst")
	raw, _ := os.ReadFile(p)
	os.WriteFile(cp, raw, 0o644)
	b2, err := Open(cp, "")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := os.Stat(b2.Core)
	if b2.Dir != b.Dir || !os.SameFile(first, again) || b2.Manifest.PID != 7 {
		t.Errorf("second open: dir %s (first %s), same core file %v, manifest %+v", b2.Dir, b.Dir, os.SameFile(first, again), b2.Manifest)
	}
	b2.Close()

	// One byte changed in the middle: the checksum no longer matches.
	bad := append([]byte(nil), raw...)
	bad[len(bad)/2] ^= 0xff
	os.RemoveAll(b.Dir) // so it is unpacked again
	bp := filepath.Join(t.TempDir(), "bad.tar.zst")
	os.WriteFile(bp, bad, 0o644)
	if b3, err := Open(bp, ""); err == nil {
		b3.Close()
		t.Error("a bundle altered after it was written was accepted")
	}
}

// TestCacheEviction: only the last few bundles stay, never one in use.
func TestCacheEviction(t *testing.T) {
	cacheDir := t.TempDir()
	t.Setenv("PYSCOPE_CACHE", cacheDir)
	dir := t.TempDir()
	held, err := Open(writeTestBundle(t, dir, "held", []byte("held")), "")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for i := 0; i < maxCached+3; i++ {
		b, err := Open(writeTestBundle(t, dir, strings.Repeat("x", i+1), []byte(strings.Repeat("y", i+1))), "")
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	ents, _ := os.ReadDir(filepath.Join(cacheDir, "bundles"))
	n := 0
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	if n > maxCached+1 {
		t.Errorf("%d bundles cached, want at most %d (+1 in use)", n, maxCached)
	}
	if _, err := os.Stat(held.Core); err != nil {
		t.Errorf("a bundle in use was evicted: %v", err)
	}
}
