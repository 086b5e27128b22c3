package fuzzguard

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// hangRun fuzzes testdata/hang, whose inputs past the seed hang, in a fresh
// directory (a finding is written under its testdata/fuzz), and returns the
// output, the exit error, the reports and the directory.
func hangRun(t *testing.T, limit string) (string, error, []string, string) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hang.test")
	build := exec.Command("go", "test", "-c", "-fuzz", "^FuzzHang$", "-o", bin, "./testdata/hang")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/hang: %v\n%s", err, out)
	}
	stalls := filepath.Join(dir, "stalls")
	if err := os.Mkdir(stalls, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^$", "-test.fuzz=^FuzzHang$", "-test.fuzztime=3s",
		"-test.parallel=1", "-test.fuzzcachedir="+filepath.Join(dir, "cache"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), StallDirEnv+"="+stalls, "PYSCOPE_FUZZ_INPUT_LIMIT="+limit)
	out, err := cmd.CombinedOutput()
	var reports []string
	ents, _ := os.ReadDir(stalls)
	for _, e := range ents {
		b, rerr := os.ReadFile(filepath.Join(stalls, e.Name()))
		if rerr != nil {
			t.Fatal(rerr)
		}
		reports = append(reports, string(b))
	}
	return string(out), err, reports, dir
}

// An input that hangs until -fuzztime ends: Go's engine reports PASS, so
// the report left behind is what fails the run.
func TestStallAtEndOfFuzztime(t *testing.T) {
	out, err, reports, _ := hangRun(t, "1m")
	if err != nil {
		t.Fatalf("the engine itself failed the run (fuzzguard's premise is gone?): %v\n%s", err, out)
	}
	if len(reports) != 1 {
		t.Fatalf("%d stall reports, want 1; output:\n%s", len(reports), out)
	}
	checkReport(t, reports[0], "-fuzztime ended while a fuzz input had run for")
}

// An input that runs past Limit fails the run, and the engine keeps it.
func TestInputLimit(t *testing.T) {
	out, err, reports, dir := hangRun(t, "300ms")
	if err == nil {
		t.Fatalf("run passed; output:\n%s", out)
	}
	m := regexp.MustCompile(`Failing input written to (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no failing input written; output:\n%s", out)
	}
	kept, rerr := os.ReadFile(filepath.Join(dir, m[1]))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if len(reports) != 1 {
		t.Fatalf("%d reports, want 1; output:\n%s", len(reports), out)
	}
	checkReport(t, reports[0], "fuzz input still running after")
	if !strings.Contains(reports[0], string(kept)) {
		t.Errorf("report's input differs from the kept one:\n%s\nkept:\n%s", reports[0], kept)
	}
}

func checkReport(t *testing.T, r, why string) {
	t.Helper()
	for _, want := range []string{"FuzzHang: " + why, "go test fuzz v1\n[]byte(", "hang.FuzzHang.func1"} {
		if !strings.Contains(r, want) {
			t.Errorf("report lacks %q:\n%.3000s", want, r)
		}
	}
}

func TestCorpus(t *testing.T) {
	got := Corpus(byte(2), uint16(600), []byte("a\x00"), "s", 7, uint64(9), rune('é'), false)
	want := "go test fuzz v1\nbyte('\\x02')\nuint16(600)\n[]byte(\"a\\x00\")\nstring(\"s\")\nint(7)\nuint64(9)\nrune('é')\nbool(false)\n"
	if got != want {
		t.Errorf("Corpus = %q, want %q", got, want)
	}
}

// TestEveryTargetGuarded keeps every fuzz target in the module on Fuzz.
func TestEveryTargetGuarded(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	plain := regexp.MustCompile(`\bf\.Fuzz\(`)
	n := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n += bytes.Count(b, []byte("fuzzguard.Fuzz(f,"))
		for i, line := range strings.Split(string(b), "\n") {
			if plain.MatchString(line) {
				rel, _ := filepath.Rel(root, p)
				t.Errorf("%s:%d: f.Fuzz: use fuzzguard.Fuzz(f, ...) so that a hang fails the run", rel, i+1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("no guarded fuzz targets found")
	}
}
