package core_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"pyscope/internal/elfx"
	"pyscope/internal/gcore"
	"pyscope/internal/target"
	"pyscope/internal/target/core"
	"pyscope/internal/target/core/coretest"
)

func openCore(t *testing.T, path string, opts core.Options) (*core.Core, []string) {
	t.Helper()
	var warns []string
	opts.Warn = func(s string) { warns = append(warns, s) }
	c, err := core.Open(path, opts)
	if err != nil {
		t.Fatalf("core.Open(%s): %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, warns
}

// A real crash: the kernel writes the core of a Python process that calls
// os.abort() while two other threads wait.
func TestKernelCoreAbort(t *testing.T) {
	for _, tc := range []struct{ name, python string }{
		{"pbs-3.12", coretest.Python312(t)},
		{"debian-3.11", coretest.DebianPython},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, f := coretest.Crash(t, tc.python)
			c, warns := openCore(t, path, core.Options{})
			if len(warns) > 0 {
				t.Errorf("unexpected warnings: %q", warns)
			}
			if c.PID() != f.PID || c.Executable() != f.Exe {
				t.Errorf("PID %d exe %q, want %d %q", c.PID(), c.Executable(), f.PID, f.Exe)
			}
			if !strings.HasPrefix(c.Cmdline(), tc.python+" ") {
				t.Errorf("Cmdline %q does not start with %q", c.Cmdline(), tc.python)
			}
			cr := c.Crash()
			if cr == nil || cr.Signal != 6 || cr.SignalName != "SIGABRT" || cr.TID != f.MainTID {
				t.Errorf("Crash() = %+v, want SIGABRT in thread %d", cr, f.MainTID)
			}
			threads := c.Threads()
			want := append([]int{f.MainTID}, f.WorkerTIDs...)
			slices.Sort(want)
			if got := coretest.SortedTIDs(threads); !reflect.DeepEqual(got, want) {
				t.Errorf("TIDs %v, want %v", got, want)
			}
			if threads[0].TID != f.MainTID {
				t.Errorf("first thread %d, want the aborting thread %d", threads[0].TID, f.MainTID)
			}
			if threads[0].Comm != filepath.Base(tc.python) {
				t.Errorf("main thread comm %q, want %q", threads[0].Comm, filepath.Base(tc.python))
			}
			coretest.CheckRegs(t, threads, c.Mappings())
			coretest.CheckFPRegs(t, threads, c.FPRegs)
			// Py_GetVersion's text is not in a kernel core: it comes from
			// the executable or libpython on disk.
			coretest.CheckMemory(t, c, f)
			for _, fi := range c.Files() {
				if fi.Found == "" {
					t.Errorf("mapped file %s not found", fi.Path)
				}
				// Every ELF file is verified: by build-id when it has one
				// (Debian), else by its captured ELF headers (these
				// python-build-standalone builds have no build-id).
				if strings.HasSuffix(fi.Path, ".so.1.0") || strings.HasSuffix(fi.Path, ".so.6") || fi.Path == f.Exe {
					want := "header"
					if id := fileBuildID(t, fi.Found); id != "" {
						want = "build-id"
						if fi.BuildID != id {
							t.Errorf("%s: build-id %q in the core, file has %q", fi.Path, fi.BuildID, id)
						}
					}
					if fi.Check != want {
						t.Errorf("%s: matched by %q, want %q", fi.Path, fi.Check, want)
					}
				}
			}
		})
	}
}

// gdb's own gcore: different note order, 1-byte aligned segments, and
// read-only file mappings left out entirely.
func TestGDBCore(t *testing.T) {
	gdb := coretest.Need(t, "gdb", "gdb")
	ch := coretest.Start(t, coretest.Python312(t))
	f := ch.Facts
	path := filepath.Join(t.TempDir(), "gdb.core")
	out, err := exec.Command(gdb, "-nx", "-batch", "-p", strconv.Itoa(f.PID), "-ex", "gcore "+path).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb gcore: %v\n%s", err, out)
	}
	tasks := coretest.Tasks(t, f.PID)
	live := coretest.ReadMaps(t, f.PID)
	c, warns := openCore(t, path, core.Options{})
	if len(warns) > 0 {
		t.Errorf("unexpected warnings: %q", warns)
	}
	if got := coretest.SortedTIDs(c.Threads()); !reflect.DeepEqual(got, tasks) {
		t.Errorf("TIDs %v, want %v", got, tasks)
	}
	if c.PID() != f.PID || c.Executable() != f.Exe {
		t.Errorf("PID %d exe %q, want %d %q", c.PID(), c.Executable(), f.PID, f.Exe)
	}
	if c.Crash() != nil {
		t.Errorf("Crash() = %+v for gdb's core of a live process", c.Crash())
	}
	maps := c.Mappings()
	if got, want := coretest.FileMappings(maps), coretest.FileMappings(live); !reflect.DeepEqual(got, want) {
		t.Errorf("file mappings differ:\n got %q\nwant %q", got, want)
	}
	// Permissions of file mappings (from PT_LOAD or, for those gdb left
	// out, the file's program headers) match the live ones.
	for _, m := range live {
		if !strings.HasPrefix(m.Path, "/") {
			continue
		}
		for _, cm := range maps {
			if cm.Start == m.Start && cm.Perms[:3] != m.Perms[:3] {
				t.Errorf("%x %s: perms %s, live %s", m.Start, m.Path, cm.Perms, m.Perms)
			}
		}
	}
	coretest.CheckRegs(t, c.Threads(), maps)
	coretest.CheckMemory(t, c, f)
}

// The LibPaths search by file name, and a file with another build-id is
// reported and never used.
func TestLibPathsAndBuildIDMismatch(t *testing.T) {
	dir := t.TempDir()
	src := "/usr/lib/python3.11/lib-dynload/_codecs_cn.cpython-311-x86_64-linux-gnu.so"
	other := "/usr/lib/python3.11/lib-dynload/_codecs_hk.cpython-311-x86_64-linux-gnu.so"
	a := filepath.Join(dir, "a")
	os.Mkdir(a, 0o755)
	ext := filepath.Join(a, filepath.Base(src))
	copyFile(t, src, ext)
	ch := coretest.Start(t, coretest.DebianPython, ext)
	path := filepath.Join(dir, "core")
	if _, err := coretest.Gcore(ch.Facts.PID, path, gcore.Options{}); err != nil {
		t.Fatal(err)
	}
	var extMap target.Mapping
	{
		c, _ := openCore(t, path, core.Options{})
		for _, m := range c.Mappings() {
			if m.Path == ext && m.Perms[2] == 'x' {
				extMap = m
			}
		}
		c.Close()
	}
	if extMap.Start == 0 {
		t.Fatalf("%s is not mapped executable in the core", ext)
	}
	text := make([]byte, 64)
	if _, err := readFile(ext, text, int64(extMap.Offset)); err != nil {
		t.Fatal(err)
	}
	os.Remove(ext)

	// Missing: reported by name, its text unreadable.
	c, warns := openCore(t, path, core.Options{})
	if !slices.Contains(c.Missing(), ext) || !anyContains(warns, ext) {
		t.Errorf("missing %s not reported: Missing()=%q warnings=%q", ext, c.Missing(), warns)
	}
	buf := make([]byte, len(text))
	if _, err := c.ReadAt(buf, extMap.Start); !isFault(err) {
		t.Errorf("reading the missing file's text: err %v, want a FaultError", err)
	}

	// A library path with the right file: found by name and read.
	b := filepath.Join(dir, "b")
	os.Mkdir(b, 0o755)
	copyFile(t, src, filepath.Join(b, filepath.Base(src)))
	c, warns = openCore(t, path, core.Options{LibPaths: []string{b}})
	if len(warns) > 0 || len(c.Missing()) > 0 {
		t.Errorf("warnings %q, missing %q", warns, c.Missing())
	}
	if _, err := c.ReadAt(buf, extMap.Start); err != nil || string(buf) != string(text) {
		t.Errorf("text via LibPaths: %x (err %v), want %x", buf, err, text)
	}

	// A different file under the same name: rejected by build-id.
	bad := filepath.Join(dir, "bad")
	os.Mkdir(bad, 0o755)
	copyFile(t, other, filepath.Join(bad, filepath.Base(src)))
	c, warns = openCore(t, path, core.Options{LibPaths: []string{bad}})
	if !anyContains(warns, "build-id mismatch") || !anyContains(warns, filepath.Base(src)) {
		t.Errorf("mismatch not reported: %q", warns)
	}
	if _, err := c.ReadAt(buf, extMap.Start); !isFault(err) {
		t.Errorf("read through a mismatched file: err %v", err)
	}
	if _, err := c.Open(ext); err == nil {
		t.Errorf("Open(%s) returned the mismatched file", ext)
	}

	// Sysroot: a copy of the file at its original path under the root.
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, a), 0o755)
	copyFile(t, src, filepath.Join(root, ext))
	c, warns = openCore(t, path, core.Options{Sysroot: root})
	if len(c.Missing()) > 0 {
		t.Errorf("missing with sysroot: %q (warnings %q)", c.Missing(), warns)
	}
	if _, err := c.ReadAt(buf, extMap.Start); err != nil || string(buf) != string(text) {
		t.Errorf("text via sysroot: %x (err %v)", buf, err)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	random := make([]byte, 1<<16)
	for i := range random {
		random[i] = byte(i*7919 + i>>8)
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	zcore := enc.EncodeAll(random, nil)
	for _, tc := range []struct {
		name, path, want string
	}{
		{"program", "/bin/ls", "not a core file (ELF type ET_DYN)"},
		{"random", write("random", random), "not a core file (not an ELF file)"},
		{"empty", write("empty", nil), "not a core file"},
		{"missing", filepath.Join(dir, "nope"), "no such file"},
		{"directory", dir, "not a regular file"},
		{"bad-zstd", write("bad.zst", append([]byte{0x28, 0xb5, 0x2f, 0xfd}, random[:100]...)), "zstd"},
		// A compressed core (or bundle) cut before its first block: the
		// file is compressed, not a tiny core.
		{"truncated-zstd", write("cut.zst", zcore[:min(len(zcore), 12)]), "its zstd data holds only 0 bytes: a truncated or corrupt file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := core.Open(tc.path, core.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line containing %q", err, tc.want)
			}
		})
	}

	// A wrong sysroot is an error; an empty one a warning.
	ch := coretest.Start(t, coretest.DebianPython)
	path := filepath.Join(dir, "core")
	if _, err := coretest.Gcore(ch.Facts.PID, path, gcore.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Open(path, core.Options{Sysroot: filepath.Join(dir, "nope")}); err == nil || !strings.Contains(err.Error(), "sysroot") {
		t.Errorf("nonexistent sysroot: err %v", err)
	}
	_, warns := openCore(t, path, core.Options{Sysroot: t.TempDir()})
	if !anyContains(warns, "holds none of") {
		t.Errorf("empty sysroot not reported: %q", warns)
	}

	// Truncated: whatever is left is readable, the rest is a fault.
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := ch.Facts
	for _, size := range []int{len(full) / 2, len(full) / 8, 8192, 1000, 100} {
		tp := write("trunc", full[:size])
		c, err := core.Open(tp, core.Options{})
		if err != nil {
			if size > 8192 {
				t.Errorf("truncated to %d: %v", size, err)
			}
			continue
		}
		if size > 8192 && !anyContains(c.Warnings(), "truncated") {
			t.Errorf("truncated to %d: no warning (%q)", size, c.Warnings())
		}
		buf := make([]byte, 64)
		for _, m := range c.Mappings() {
			c.ReadAt(buf, m.Start)
			c.ReadAt(buf, m.End-8)
		}
		if _, err := c.ReadAt(buf[:8], f.ObjDataAddr); err != nil && !isFault(err) {
			t.Errorf("truncated to %d: non-fault error %v", size, err)
		}
		c.Close()
	}
}

func fileBuildID(t *testing.T, path string) string {
	f, err := elfx.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return f.BuildID()
}

func isFault(err error) bool {
	var fe *target.FaultError
	return errors.As(err, &fe)
}

func anyContains(list []string, s string) bool {
	for _, x := range list {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func readFile(path string, b []byte, off int64) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.ReadFull(io.NewSectionReader(f, off, int64(len(b))), b)
}
