package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"pyscope/internal/cache"
)

// python27Patch is the last CPython 2 release.
const python27Patch = "2.7.18"

var python27Mu sync.Mutex

// Python27 returns a real CPython 2.7 interpreter, for the tests that
// check pyscope names the version it refuses. It takes pyenv's where the
// machine has one, else one built before under pyscope's cache, else it
// builds one there (about five minutes) from Debian's python2.7 source
// package: bookworm has no python2.7, bullseye's source is still served.
func Python27(t testing.TB) string {
	t.Helper()
	python27Mu.Lock()
	defer python27Mu.Unlock()
	prefix := filepath.Join(cache.Dir("pythons"), python27Patch)
	built := filepath.Join(prefix, "bin", "python2.7")
	if _, err := os.Stat(filepath.Join(prefix, ".complete")); err == nil {
		return built
	}
	if p := pyenvPython27(); p != "" {
		return p
	}
	if err := buildPython27(t, prefix); err != nil {
		t.Fatalf("no Python 2.7: pyenv has none and building one failed: %v", err)
	}
	return built
}

func pyenvPython27() string {
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".pyenv")
	}
	m, _ := filepath.Glob(filepath.Join(root, "versions", "2.7*", "bin", "python2.7"))
	sort.Strings(m)
	for i := len(m) - 1; i >= 0; i-- {
		if fi, err := os.Stat(m[i]); err == nil && fi.Mode()&0o111 != 0 {
			return m[i]
		}
	}
	return ""
}

// buildPython27 fetches the source with apt-get source through a private
// sources list (the machine's stays as it is) and builds it into prefix.
func buildPython27(t testing.TB, prefix string) error {
	NeedPackages(t, "dpkg-dev", "gcc", "make", "xz-utils")
	if err := os.MkdirAll(filepath.Dir(prefix), 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(filepath.Dir(prefix), ".python27-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	apt := filepath.Join(work, "apt")
	for _, d := range []string{"lists/partial", "archives/partial"} {
		if err := os.MkdirAll(filepath.Join(apt, d), 0o755); err != nil {
			return err
		}
	}
	list := filepath.Join(apt, "sources.list")
	if err := os.WriteFile(list, []byte("deb-src http://deb.debian.org/debian bullseye main\n"), 0o644); err != nil {
		return err
	}
	aptOpts := []string{"-o", "Dir::Etc::SourceList=" + list, "-o", "Dir::Etc::SourceParts=-",
		"-o", "Dir::State::Lists=" + filepath.Join(apt, "lists"), "-o", "Dir::Cache::Archives=" + filepath.Join(apt, "archives"),
		"-o", "APT::Sandbox::User=root"}
	run := func(dir string, name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %v: %v\n%s", name, args, err, tail(out))
		}
		return nil
	}
	if err := run(work, "apt-get", append(aptOpts, "update", "-q")...); err != nil {
		return err
	}
	if err := run(work, "apt-get", append(aptOpts, "source", "-q", "--download-only", "python2.7")...); err != nil {
		return err
	}
	orig, _ := filepath.Glob(filepath.Join(work, "python2.7_*.orig.tar.*"))
	if len(orig) == 0 {
		return fmt.Errorf("apt-get source python2.7 brought no .orig tarball")
	}
	if err := run(work, "tar", "xf", orig[0]); err != nil {
		return err
	}
	src, _ := filepath.Glob(filepath.Join(work, "Python-2.7*"))
	if len(src) == 0 {
		return fmt.Errorf("%s holds no Python-2.7 directory", orig[0])
	}
	os.RemoveAll(prefix)
	if err := run(src[0], "./configure", "--prefix="+prefix, "--enable-shared", "LDFLAGS=-Wl,-rpath,"+filepath.Join(prefix, "lib")); err != nil {
		return err
	}
	if err := run(src[0], "make", "-j2"); err != nil {
		return err
	}
	// Modules that fail for want of headers do not matter here.
	if err := run(src[0], "make", "install"); err != nil {
		return err
	}
	if err := run(work, filepath.Join(prefix, "bin", "python2.7"), "-c", "import sys; assert sys.version_info[:2] == (2, 7)"); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(prefix, ".complete"), nil, 0o644)
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}
