package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The reporter's counts and output come from a real `go test -json` run
// of a module with passing, failing and skipped tests and subtests, and a
// package that does not build.
func TestReportOfARealRun(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module demo\n\ngo 1.21\n",
		"a/a_test.go": `package a
import "testing"
func TestPass(t *testing.T) {}
func TestSkip(t *testing.T) { t.Skip("not here") }
func TestSubs(t *testing.T) {
	t.Run("one", func(t *testing.T) {})
	t.Run("two", func(t *testing.T) { t.Skip("no") })
}
`,
		"b/b_test.go": `package b
import "testing"
func TestFails(t *testing.T) {
	t.Run("bad", func(t *testing.T) { t.Error("MARK-subtest-failure") })
	t.Run("good", func(t *testing.T) { t.Log("MARK-passing-output") })
}
func TestPass(t *testing.T) {}
`,
		"c/c.go":      "package c\nvar x int = \"not an int\"\n",
		"c/c_test.go": "package c\nimport \"testing\"\nfunc TestC(t *testing.T) {}\n",
		"d/d.go":      "package d\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-json", "-count=1", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	stream, _ := cmd.CombinedOutput() // fails: b and c fail
	var out, table bytes.Buffer
	r := newReporter(&out)
	sc := bufio.NewScanner(bytes.NewReader(stream))
	for sc.Scan() {
		r.handle(sc.Bytes())
	}
	r.table(&table)
	t.Logf("output:\n%s\ntable:\n%s", out.String(), table.String())

	o := out.String()
	for _, want := range []string{"MARK-subtest-failure", "ok  \tdemo/a", "3 tests, 2 subtests, 2 skipped"} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(o, "MARK-passing-output") {
		t.Error("output of a passing subtest printed")
	}
	if !strings.Contains(o, `"not an int"`) {
		t.Error("the build error is not shown")
	}
	rows := map[string][]string{}
	counts, _, _ := strings.Cut(table.String(), "failed tests:")
	for _, l := range strings.Split(counts, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			rows[f[0]] = f
		}
	}
	// name, tests run/pass/fail/skip, subtests run/pass/fail/skip, time...
	check := func(name string, want ...string) {
		t.Helper()
		got := rows[name]
		if len(got) < 1+len(want) || strings.Join(got[1:1+len(want)], " ") != strings.Join(want, " ") {
			t.Errorf("%s: row %v, want counts %v", name, got, want)
		}
	}
	check("demo/a", "3", "2", "0", "1", "2", "1", "0", "1")
	check("demo/b", "2", "1", "1", "0", "2", "1", "1", "0")
	check("total", "(3", "packages)", "5", "3", "1", "1", "4", "2", "1", "1")
	if c := rows["demo/c"]; len(c) == 0 || c[len(c)-1] != "FAILED" {
		t.Errorf("demo/c: %v, want BUILD FAILED", c)
	}
	if _, listed := rows["demo/d"]; listed {
		t.Error("a package without tests is listed")
	}
	if !strings.Contains(table.String(), "demo/b TestFails/bad") {
		t.Errorf("failed subtest not listed:\n%s", table.String())
	}
}
