// Package pybuilds provisions the reference CPython builds that tests and the
// layout generator use: python-build-standalone builds shipped inside the Go
// module github.com/kluctl/go-embed-python. The module is fetched with
// `go mod download` into the module cache (never a dependency of pyscope) and
// unpacked once into a cache directory.
package pybuilds

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"pyscope/internal/cache"
)

const module = "github.com/kluctl/go-embed-python"

// Tags maps a minor version to the module tag holding its build.
var Tags = map[string]string{
	"3.10": "v0.0.0-3.10.16-20241219-1",
	"3.11": "v0.0.0-3.11.11-20241219-1",
	"3.12": "v0.0.0-3.12.3-20240415-2",
	"3.13": "v0.0.0-3.13.1-20241219-1",
	"3.14": "v0.0.0-3.14.6-20260610-1",
}

// Minors lists the provisioned minor versions in order.
func Minors() []string {
	var m []string
	for k := range Tags {
		m = append(m, k)
	}
	sort.Strings(m)
	return m
}

// Build is one unpacked interpreter.
type Build struct {
	Minor  string // "3.12"
	Patch  string // "3.12.3"
	Root   string // install prefix
	Python string // bin/python3.X
	// Libpython is lib/libpython3.X.so.1.0 (present in every build, though
	// 3.14's executable is static and does not load it).
	Libpython string
}

// RunJSON runs script in the build's interpreter, isolated (-I), and
// decodes what it prints as JSON into v: how the generators learn a fact
// of each reference build.
func (b *Build) RunJSON(script string, v any) error {
	raw, err := exec.Command(b.Python, "-I", "-c", script).Output()
	if err != nil {
		return fmt.Errorf("%s: %w", b.Python, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", b.Python, err)
	}
	return nil
}

// Get returns the build for a minor version, fetching and unpacking it if
// needed. It is safe to call from concurrent processes.
func Get(minor string) (*Build, error) {
	tag, ok := Tags[minor]
	if !ok {
		return nil, fmt.Errorf("no reference build for Python %s", minor)
	}
	patch := strings.SplitN(strings.TrimPrefix(tag, "v0.0.0-"), "-", 2)[0]
	root := filepath.Join(cache.Dir("pythons"), patch)
	b := &Build{
		Minor: minor, Patch: patch, Root: root,
		Python:    filepath.Join(root, "bin", "python"+minor),
		Libpython: filepath.Join(root, "lib", "libpython"+minor+".so.1.0"),
	}
	if _, err := os.Stat(filepath.Join(root, ".complete")); err == nil {
		return b, nil
	}
	src, err := download(tag)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), ".unpack-"+patch+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := unpack(filepath.Join(src, "python", "internal", "data", "linux-amd64"), tmp); err != nil {
		return nil, fmt.Errorf("unpack Python %s: %w", patch, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, root); err != nil {
		// Another process won the race.
		if _, serr := os.Stat(filepath.Join(root, ".complete")); serr == nil {
			return b, nil
		}
		return nil, err
	}
	return b, nil
}

func download(tag string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+tag)
	cmd.Dir = os.TempDir() // outside any module: never touches pyscope's go.mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	out, err := cmd.Output()
	var info struct {
		Dir   string
		Error string
	}
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", module, tag, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %v", module, tag, err)
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: no directory reported", module, tag)
	}
	return info.Dir, nil
}

type fileEntry struct {
	Name       string `json:"name"`
	Perm       uint32 `json:"perm"`
	Symlink    string `json:"symlink"`
	Compressed bool   `json:"compressed"`
}

// unpack recreates the tree that files.json describes: directories,
// symlinks, and files stored gzip-compressed with a .gz suffix.
func unpack(src, dst string) error {
	raw, err := os.ReadFile(filepath.Join(src, "files.json"))
	if err != nil {
		return err
	}
	var idx struct{ Files []fileEntry }
	if err := json.Unmarshal(raw, &idx); err != nil {
		return err
	}
	for _, f := range idx.Files {
		if strings.Contains(f.Name, "..") {
			return fmt.Errorf("bad path %q", f.Name)
		}
		p := filepath.Join(dst, f.Name)
		switch {
		case f.Symlink != "":
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(f.Symlink, p); err != nil && !os.IsExist(err) {
				return err
			}
		case f.Perm&(1<<31) != 0: // os.ModeDir
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		default:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := copyFile(filepath.Join(src, f.Name), p, f.Compressed, os.FileMode(f.Perm&0o777)); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyFile(src, dst string, compressed bool, mode os.FileMode) error {
	name := src
	if compressed {
		name += ".gz"
	}
	in, err := os.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	var r io.Reader = in
	if compressed {
		gz, err := gzip.NewReader(in)
		if err != nil {
			return err
		}
		defer gz.Close()
		r = gz
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
