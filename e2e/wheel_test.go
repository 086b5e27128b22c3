package e2e

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"pyscope/internal/cache"
	"pyscope/internal/testenv"
	"pyscope/internal/version"
)

const wheelTags = "py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64"

var (
	wheelOnce sync.Once
	wheelPath string
	wheelErr  error
)

// buildWheel runs scripts/build-wheel.sh once per test process, exactly as
// the README tells users to, and returns the wheel's path.
func buildWheel(t *testing.T) string {
	t.Helper()
	testenv.NeedPackages(t, "python3.11-venv")
	wheelOnce.Do(func() {
		root, err := testenv.RepoRoot()
		if err != nil {
			wheelErr = err
			return
		}
		out, err := os.MkdirTemp("", "pyscope-wheel-")
		if err != nil {
			wheelErr = err
			return
		}
		cmd := exec.Command(filepath.Join(root, "scripts", "build-wheel.sh"), out)
		cmd.Env = append(os.Environ(), "PYTHON="+testenv.DebianPython)
		msg, err := cmd.CombinedOutput()
		if err != nil {
			wheelErr = fmt.Errorf("scripts/build-wheel.sh: %v\n%s", err, msg)
			return
		}
		wheelPath = filepath.Join(out, "pyscope-"+version.Version+"-"+wheelTags+".whl")
		// The script prints the install command the README quotes.
		if !strings.Contains(string(msg), "pip install "+wheelPath+"\n") {
			wheelErr = fmt.Errorf("scripts/build-wheel.sh did not print `pip install %s`:\n%s", wheelPath, msg)
		}
	})
	if wheelErr != nil {
		t.Fatal(wheelErr)
	}
	return wheelPath
}

// TestWheelContents: the wheel is what pip, PyPI and auditwheel expect:
// named after its tags, with METADATA and WHEEL saying the same, a RECORD
// whose hashes and sizes match every file, and a static executable as its
// only script.
func TestWheelContents(t *testing.T) {
	whl := buildWheel(t)
	zr, err := zip.OpenReader(whl)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	nv := "pyscope-" + version.Version
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		files[f.Name] = b
		if f.Name == nv+".data/scripts/pyscope" && f.Mode().Perm()&0o111 != 0o111 {
			t.Errorf("%s has mode %v in the zip: not executable once installed", f.Name, f.Mode())
		}
	}
	want := []string{nv + ".data/scripts/pyscope", nv + ".dist-info/METADATA", nv + ".dist-info/WHEEL", nv + ".dist-info/RECORD"}
	if len(files) != len(want) {
		t.Errorf("wheel holds %d files, want exactly %v", len(files), want)
	}
	for _, name := range want {
		if _, ok := files[name]; !ok {
			t.Fatalf("wheel lacks %s", name)
		}
	}

	meta := headers(t, files[nv+".dist-info/METADATA"])
	if got := meta["Name"]; len(got) != 1 || got[0] != "pyscope" {
		t.Errorf("METADATA Name %v", got)
	}
	if got := meta["Version"]; len(got) != 1 || got[0] != version.Version {
		t.Errorf("METADATA Version %v, want %s (internal/version)", got, version.Version)
	}
	wheel := headers(t, files[nv+".dist-info/WHEEL"])
	if got := strings.Join(wheel["Tag"], " "); got != "py3-none-manylinux_2_17_x86_64 py3-none-manylinux2014_x86_64" {
		t.Errorf("WHEEL tags %q", got)
	}
	if got := wheel["Root-Is-Purelib"]; len(got) != 1 || got[0] != "false" {
		t.Errorf("WHEEL Root-Is-Purelib %v, want false (platform wheel)", got)
	}

	// RECORD: every file but RECORD itself, with its urlsafe sha256 and size.
	recs, err := csv.NewReader(bytes.NewReader(files[nv+".dist-info/RECORD"])).ReadAll()
	if err != nil {
		t.Fatalf("RECORD: %v", err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if len(r) != 3 {
			t.Fatalf("RECORD row %v", r)
		}
		seen[r[0]] = true
		b, ok := files[r[0]]
		switch {
		case !ok:
			t.Errorf("RECORD lists %s, not in the wheel", r[0])
		case r[0] == nv+".dist-info/RECORD":
			if r[1] != "" || r[2] != "" {
				t.Errorf("RECORD lists a hash for itself: %v", r)
			}
		default:
			sum := sha256.Sum256(b)
			if h := "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]); r[1] != h {
				t.Errorf("RECORD %s: hash %s, file has %s", r[0], r[1], h)
			}
			if r[2] != strconv.Itoa(len(b)) {
				t.Errorf("RECORD %s: size %s, file has %d", r[0], r[2], len(b))
			}
		}
	}
	for name := range files {
		if !seen[name] {
			t.Errorf("%s is not in RECORD", name)
		}
	}

	// Static: no interpreter, no shared library, so any glibc (or none) runs it.
	ef, err := elf.NewFile(bytes.NewReader(files[nv+".data/scripts/pyscope"]))
	if err != nil {
		t.Fatalf("the script is not ELF: %v", err)
	}
	if ef.Machine != elf.EM_X86_64 {
		t.Errorf("binary is for %v", ef.Machine)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("binary has %v: not static", p.Type)
		}
	}

	// auditwheel, PyPA's checker of manylinux claims, agrees that nothing
	// outside the wheel is needed (it then reports the lowest possible tag;
	// the kernel floor of Go's runtime is what sets ours at 2_17).
	out, err := exec.Command(filepath.Join(testenv.PyTools(t), "auditwheel"), "show", whl).CombinedOutput()
	if err != nil {
		t.Fatalf("auditwheel show: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`consistent with the following platform tag:\s+"manylinux_2_(\d+)_x86_64"`).FindSubmatch(out)
	if m == nil || !strings.Contains(string(out), "requires no external shared libraries") {
		t.Fatalf("auditwheel show:\n%s", out)
	}
	if n, _ := strconv.Atoi(string(m[1])); n > 17 {
		t.Errorf("auditwheel says the wheel needs manylinux_2_%d, above its tag manylinux_2_17", n)
	}
}

// headers parses an RFC 822-style metadata file (METADATA, WHEEL).
func headers(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	h := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break // the body follows
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("bad header line %q", line)
		}
		h[k] = append(h[k], v)
	}
	return h
}

// TestWheelInstall: `pip install` of the wheel into a fresh venv of every
// test interpreter puts pyscope on the venv's PATH, and that pyscope
// reports the one version and dumps a target run by the same interpreter.
func TestWheelInstall(t *testing.T) {
	whl := buildWheel(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			venv := filepath.Join(t.TempDir(), "venv")
			// --no-index: nothing may come from PyPI, where "pyscope" is
			// another project.
			install := []string{"install", "-q", "--no-index", "--disable-pip-version-check", whl}
			if exec.Command(in.Path, "-c", "import ensurepip").Run() == nil {
				run(t, nil, in.Path, "-m", "venv", venv)
				run(t, nil, filepath.Join(venv, "bin", "pip"), install...)
			} else {
				// The python-build-standalone builds of the matrix come
				// without ensurepip: pip runs under the venv's interpreter
				// through --python instead.
				run(t, nil, in.Path, "-m", "venv", "--without-pip", venv)
				pip := filepath.Join(testenv.PyTools(t), "pip")
				run(t, nil, pip, append([]string{"--python", filepath.Join(venv, "bin", "python")}, install...)...)
			}
			checkInstalled(t, in, filepath.Join(venv, "bin"))
		})
	}
}

// TestToolInstall: pipx (with each of its backends) and `uv tool install`
// install the wheel as a tool, with its own venv of the interpreter given.
func TestToolInstall(t *testing.T) {
	whl := buildWheel(t)
	tools := testenv.PyTools(t)
	interps := testenv.Interpreters(t)
	byName := map[string]testenv.Interp{}
	for _, in := range interps {
		byName[in.Name] = in
	}
	pick := func(name string) testenv.Interp {
		in, ok := byName[name]
		if !ok {
			t.Fatalf("no interpreter %s in the matrix", name)
		}
		return in
	}
	cases := []struct {
		name   string
		interp testenv.Interp
		args   func(home, bin string, in testenv.Interp) ([]string, []string)
	}{
		{"pipx-pip", pick("pbs-3.10.16"), func(home, bin string, in testenv.Interp) ([]string, []string) {
			return []string{filepath.Join(tools, "pipx"), "install", "--backend", "pip", "--python", in.Path, whl},
				[]string{"PIPX_HOME=" + home, "PIPX_BIN_DIR=" + bin, "PIPX_MAN_DIR=" + filepath.Join(home, "man"),
					// pip's own upgrade in pipx's shared venv comes from PyPI: keep it.
					"PIPX_SHARED_LIBS=" + cache.Dir("pipx-shared")}
		}},
		{"pipx-uv", pick("pbs-3.13.1"), func(home, bin string, in testenv.Interp) ([]string, []string) {
			return []string{filepath.Join(tools, "pipx"), "install", "--backend", "uv", "--python", in.Path, whl},
				[]string{"PIPX_HOME=" + home, "PIPX_BIN_DIR=" + bin, "PIPX_MAN_DIR=" + filepath.Join(home, "man")}
		}},
		{"uv-tool", pick("pbs-3.14.6"), func(home, bin string, in testenv.Interp) ([]string, []string) {
			return []string{filepath.Join(tools, "uv"), "tool", "install", "--offline", "--python", in.Path, whl},
				[]string{"UV_TOOL_DIR=" + home, "UV_TOOL_BIN_DIR=" + bin, "UV_PYTHON_DOWNLOADS=never"}
		}},
		{"uv-tool-debian", pick("debian-3.11"), func(home, bin string, in testenv.Interp) ([]string, []string) {
			return []string{filepath.Join(tools, "uv"), "tool", "install", "--offline", "--python", in.Path, whl},
				[]string{"UV_TOOL_DIR=" + home, "UV_TOOL_BIN_DIR=" + bin, "UV_PYTHON_DOWNLOADS=never"}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			home, bin := filepath.Join(dir, "tools"), filepath.Join(dir, "bin")
			args, env := c.args(home, bin, c.interp)
			// A clean HOME: nothing from the user's own pipx or uv set-up.
			env = append(env, "HOME="+filepath.Join(dir, "home"), "PATH=/usr/local/bin:/usr/bin:/bin",
				"UV_CACHE_DIR="+filepath.Join(dir, "uv-cache"))
			run(t, env, args[0], args[1:]...)
			checkInstalled(t, c.interp, bin)
		})
	}
}

// checkInstalled finds pyscope through PATH=binDir, as a shell would after
// activation or `pipx ensurepath`, and runs version and a dump with it.
func checkInstalled(t *testing.T, in testenv.Interp, binDir string) {
	t.Helper()
	bin, err := lookPath("pyscope", binDir+":/usr/bin:/bin")
	if err != nil {
		t.Fatalf("pyscope not on PATH after install: %v", err)
	}
	r := runPyscope(t, bin, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "pyscope "+version.Version+" (") {
		t.Fatalf("pyscope version: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	tg := testenv.StartTarget(t, in, "busy.py")
	r = runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(tg.PID))
	if r.code != 0 {
		t.Fatalf("installed pyscope dump: exit %d: %s", r.code, r.stderr)
	}
	compareDump(t, tg, settledDump(t, bin, tg, decodeDump(t, r.stdout)))
	tg.CheckRunning(t)
}

func lookPath(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s", name, path)
}

// run runs a setup command, failing the test with its output.
func run(t *testing.T, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// TestGoInstall: from a clone, `go install ./cmd/pyscope` builds the same
// version. (`go install …@latest` needs a module path that names a
// repository; pyscope's is `pyscope`, so a clone is the Go route.)
func TestGoInstall(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	gobin := t.TempDir()
	cmd := exec.Command("go", "install", "./cmd/pyscope")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install ./cmd/pyscope: %v\n%s", err, out)
	}
	r := runPyscope(t, filepath.Join(gobin, "pyscope"), nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "pyscope "+version.Version+" (") {
		t.Fatalf("pyscope version: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
}

// TestReadmeInstall runs the README's install commands as written, in the
// repository root, each with the tool it names on PATH and its own
// isolated install directory, and checks the pyscope each one installed.
func TestReadmeInstall(t *testing.T) {
	testenv.NeedPackages(t, "python3-venv", "python3.11-venv")
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Install\n")
	if !ok {
		t.Fatal("README has no Install section")
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("README's Install section has no sh block")
	}
	tools := testenv.PyTools(t)
	base := "/usr/local/bin:/usr/bin:/bin"
	lines := strings.Split(strings.TrimSpace(block), "\n")
	if len(lines) < 4 {
		t.Fatalf("README install block too short:\n%s", block)
	}
	built := false
	for _, line := range lines {
		cmdline, _, _ := strings.Cut(line, "#")
		cmdline = strings.TrimSpace(cmdline)
		dir := t.TempDir()
		bin := filepath.Join(dir, "bin")
		env := []string{"HOME=" + filepath.Join(dir, "home")}
		f := strings.Fields(cmdline)
		switch {
		case cmdline == "./scripts/build-wheel.sh":
			env = nil // the user's own Go and python3
			built = true
		case len(f) > 1 && f[0] == "pipx" && f[1] == "install":
			env = append(env, "PATH="+tools+":"+base, "PIPX_HOME="+filepath.Join(dir, "pipx"),
				"PIPX_BIN_DIR="+bin, "PIPX_MAN_DIR="+filepath.Join(dir, "man"))
		case len(f) > 2 && f[0] == "uv" && f[1] == "tool" && f[2] == "install":
			env = append(env, "PATH="+tools+":"+base, "UV_TOOL_DIR="+filepath.Join(dir, "uv"),
				"UV_TOOL_BIN_DIR="+bin, "UV_CACHE_DIR="+filepath.Join(dir, "uv-cache"), "UV_PYTHON_DOWNLOADS=never")
		case len(f) > 1 && f[0] == "pip" && f[1] == "install":
			// "the active virtualenv": a fresh one, activated as `activate` does.
			venv := filepath.Join(dir, "venv")
			run(t, nil, "/usr/bin/python3", "-m", "venv", venv)
			bin = filepath.Join(venv, "bin")
			env = append(env, "PATH="+bin+":"+base, "VIRTUAL_ENV="+venv)
		case len(f) > 1 && f[0] == "go" && f[1] == "install":
			env = append(env, "GOBIN="+bin)
		default:
			t.Fatalf("README install line %q: the test does not know how to check it", line)
		}
		if !built {
			t.Fatalf("README installs before ./scripts/build-wheel.sh: %q", line)
		}
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", cmdline)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README: %s: %v\n%s", cmdline, err, out)
		}
		if cmdline == "./scripts/build-wheel.sh" {
			continue
		}
		r := runPyscope(t, filepath.Join(bin, "pyscope"), nil, "version")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "pyscope "+version.Version+" (") {
			t.Errorf("%s: pyscope version: exit %d, %q %s", cmdline, r.code, r.stdout, r.stderr)
		}
	}
}
