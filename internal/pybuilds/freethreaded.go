package pybuilds

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"pyscope/internal/cache"
)

// No free-threaded python-build-standalone build ships in go-embed-python,
// so the free-threaded reference interpreter is built from source: the
// pristine upstream tarball that Debian trixie's python3.13 source package
// carries (fetched with `apt-get source`, which checks it against the signed
// .dsc), pinned again here by its SHA-256.
const (
	FreeThreadedMinor  = "3.13"
	FreeThreadedPatch  = "3.13.5"
	freeThreadedDir    = FreeThreadedPatch + "t"
	freeThreadedSource = "python3.13"
	freeThreadedOrig   = "python3.13_3.13.5.orig.tar.xz"
	freeThreadedSHA256 = "93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640"
	trixieSources      = "/etc/apt/sources.list.d/pyscope-trixie-src.sources"
)

// trixieSrc is a deb-src-only entry: bookworm's binary packages stay the
// only ones apt can install, so the build dependencies come from bookworm.
const trixieSrc = `Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`

// BuildDeps are the bookworm packages the free-threaded build needs: a
// compiler, and the headers of the stdlib's C extensions the tests and
// targets use (ssl, zlib, ctypes, bz2, lzma, sqlite3, readline, curses,
// uuid, dbm). Debian trixie's Build-Depends is not installed blindly: it
// names trixie versions and packaging tools a plain build does not need.
var BuildDeps = []string{
	"build-essential", "pkg-config", "xz-utils",
	"libssl-dev", "zlib1g-dev", "libffi-dev", "libbz2-dev", "liblzma-dev",
	"libsqlite3-dev", "libreadline-dev", "libncurses-dev", "uuid-dev", "libgdbm-dev",
}

// FreeThreadedRoot is the install prefix of the free-threaded build.
func FreeThreadedRoot() string {
	return filepath.Join(cache.Dir("pythons"), freeThreadedDir)
}

// FreeThreadedBuild describes the free-threaded build without building it.
// The executable is static: it holds _PyRuntime and its own DWARF, so
// Libpython names the executable itself.
func FreeThreadedBuild() *Build {
	root := FreeThreadedRoot()
	py := filepath.Join(root, "bin", "python"+FreeThreadedMinor+"t")
	return &Build{Minor: FreeThreadedMinor, Patch: FreeThreadedPatch, Root: root, Python: py, Libpython: py}
}

// GetFreeThreaded returns the free-threaded 3.13 build, building it first if
// the cache lacks it (about 10 minutes on two cores; needs root for apt).
// The build is redone from scratch when an earlier one was interrupted: only
// a finished install carries the .complete marker. Concurrent callers wait
// on a lock file.
func GetFreeThreaded(log io.Writer) (*Build, error) {
	b := FreeThreadedBuild()
	marker := filepath.Join(b.Root, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return b, nil
	}
	pythons := filepath.Dir(b.Root)
	if err := os.MkdirAll(pythons, 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(pythons, "."+freeThreadedDir+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	if _, err := os.Stat(marker); err == nil {
		return b, nil // another process built it while we waited
	}
	// A build killed earlier left its scratch tree (hundreds of MB).
	stale, _ := filepath.Glob(filepath.Join(pythons, ".build-"+freeThreadedDir+"-*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
	start := time.Now()
	fmt.Fprintf(log, "building free-threaded Python %s into %s (about 10 minutes, once)\n", FreeThreadedPatch, b.Root)
	work, err := os.MkdirTemp(pythons, ".build-"+freeThreadedDir+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	logPath := filepath.Join(pythons, freeThreadedDir+".build.log")
	buildLog, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer buildLog.Close()
	if err := buildFreeThreaded(b, work, buildLog, log); err != nil {
		return nil, fmt.Errorf("build free-threaded Python %s: %w (log: %s)\n%s", FreeThreadedPatch, err, logPath, tail(logPath, 20))
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "built free-threaded Python %s in %s\n", FreeThreadedPatch, time.Since(start).Round(time.Second))
	return b, nil
}

func buildFreeThreaded(b *Build, work string, buildLog, progress io.Writer) error {
	run := func(dir, name string, args ...string) error {
		fmt.Fprintf(progress, "  %s %s\n", name, strings.Join(args, " "))
		fmt.Fprintf(buildLog, "\n$ (cd %s && %s %s)\n", dir, name, strings.Join(args, " "))
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = buildLog, buildLog
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
		}
		return nil
	}
	if os.Geteuid() != 0 {
		return errors.New("not root: apt-get cannot add the trixie deb-src entry or install the build dependencies; run ./scripts/test.sh as root once")
	}
	if err := ensureTrixieSources(); err != nil {
		return err
	}
	if err := run(work, "apt-get", "update", "-q"); err != nil {
		return err
	}
	if err := run(work, "apt-get", append([]string{"install", "-y", "-q", "--no-install-recommends"}, BuildDeps...)...); err != nil {
		return err
	}
	// --download-only: the pristine upstream tarball is what is built, not
	// Debian's patched tree (its patches relocate paths for the system
	// interpreter and do nothing for a private prefix).
	if err := run(work, "apt-get", "source", "--download-only", "-q", freeThreadedSource); err != nil {
		return err
	}
	orig := filepath.Join(work, freeThreadedOrig)
	if err := checkSHA256(orig, freeThreadedSHA256); err != nil {
		return fmt.Errorf("%w (Debian trixie's %s no longer carries Python %s? update FreeThreadedPatch and its hash)", err, freeThreadedSource, FreeThreadedPatch)
	}
	if err := run(work, "tar", "-xJf", orig); err != nil {
		return err
	}
	src := filepath.Join(work, "Python-"+FreeThreadedPatch)
	if err := os.RemoveAll(b.Root); err != nil {
		return err
	}
	// Static (no --enable-shared): the executable holds _PyRuntime and its
	// DWARF, and runs from anywhere without an rpath; shared libpython is
	// already covered by the 3.10-3.13 reference builds. configure's
	// default OPT keeps -g, so the build carries its own DWARF.
	if err := run(src, "./configure", "--disable-gil", "--prefix="+b.Root, "--with-ensurepip=no"); err != nil {
		return err
	}
	if err := run(src, "make", "-j2"); err != nil {
		return err
	}
	if err := run(src, "make", "install"); err != nil {
		return err
	}
	out, err := exec.Command(b.Python, "-c", "import sys, sysconfig; print('%d.%d.%d' % sys.version_info[:3], sysconfig.get_config_var('Py_GIL_DISABLED'))").Output()
	if err != nil {
		return fmt.Errorf("%s does not run: %w", b.Python, err)
	}
	if got, want := strings.TrimSpace(string(out)), FreeThreadedPatch+" 1"; got != want {
		return fmt.Errorf("%s reports %q, want %q", b.Python, got, want)
	}
	return nil
}

func ensureTrixieSources() error {
	if old, err := os.ReadFile(trixieSources); err == nil && string(old) == trixieSrc {
		return nil
	}
	return os.WriteFile(trixieSources, []byte(trixieSrc), 0o644)
}

func checkSHA256(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s: SHA-256 %s, want %s", filepath.Base(path), got, want)
	}
	return nil
}

// tail returns the last n lines of a log file, for an error message.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
