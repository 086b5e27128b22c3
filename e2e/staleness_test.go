package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// countWarnings counts, per file, the warnings that it changed after the
// given moment ("the process started", "the core was written").
func countWarnings(out, what string, files ...string) map[string]int {
	n := map[string]int{}
	for _, l := range strings.Split(out, "\n") {
		for _, f := range files {
			if strings.HasPrefix(l, "warning: "+f+" was modified after "+what+" (") {
				n[f]++
			}
		}
	}
	return n
}

// dump and py-bt warn when a source file changed after the process started
// (for a core: after the core was written), once per file however many
// frames run its code, and not for files that did not change. A bundle's
// copies keep their times, so unpacking one warns of nothing.
func TestSourceChangedWarnings(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	var py string
	for _, in := range testenv.Interpreters(t) {
		if in.Minor == "3.12" {
			py = in.Path
		}
	}
	dir := t.TempDir()
	app, helper, same := filepath.Join(dir, "app.py"), filepath.Join(dir, "helper.py"), filepath.Join(dir, "same.py")
	files := map[string]string{
		helper: "import time\n\n\ndef wait(n):\n    if n:\n        return wait(n - 1)\n    time.sleep(3600)\n",
		same:   "def call(f, *args):\n    return f(*args)\n",
		app: `import sys, threading
sys.path.insert(0, ` + strconv.Quote(dir) + `)
import helper, same


def serve(depth):
    return helper.wait(depth)


for i in range(2):
    threading.Thread(target=same.call, args=(serve, 3), daemon=True).start()
print("ready", flush=True)
same.call(serve, 2)
`,
	}
	for f, src := range files {
		if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pid := testenv.StartScript(t, py, fmt.Sprintf("import runpy; runpy.run_path(%q, run_name='__main__')", app))
	edit := func(files ...string) {
		for _, f := range files {
			fh, err := os.OpenFile(f, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(fh, "# edited while it runs")
			fh.Close()
		}
	}
	// The start time is known to the second: edit well after it.
	time.Sleep(2500 * time.Millisecond)
	edit(app, helper)

	check := func(what, out, when string) {
		t.Helper()
		n := countWarnings(out, when, app, helper, same)
		if n[app] != 1 || n[helper] != 1 || n[same] != 0 {
			t.Errorf("%s: warnings per file %v, want one for app.py and helper.py, none for same.py:\n%s", what, n, out)
		}
	}
	r := runPyscope(t, bin, nil, "dump", strconv.Itoa(pid))
	if r.code != 0 {
		t.Fatalf("dump: exit %d: %s", r.code, r.stderr)
	}
	check("dump", r.stdout, "the process started")
	if i, j := strings.Index(r.stdout, "warning: "), strings.Index(r.stdout, "\nThread "); i < 0 || j < i {
		t.Errorf("dump: the warnings are not in the header:\n%s", r.stdout)
	}
	r = runPyscope(t, bin, nil, "debug", strconv.Itoa(pid), "-batch", "-ex", "thread apply all py-bt", "-ex", "py-bt")
	if r.code != 0 {
		t.Fatalf("debug: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	check("thread apply all py-bt", r.stdout, "the process started")
	if i, j := strings.Index(r.stdout, "warning: "), strings.Index(r.stdout, "Traceback"); i < 0 || j < i {
		t.Errorf("py-bt: the warning is not before the traceback:\n%s", r.stdout)
	}

	// A core written after the edits: they are older than the core, so no
	// warning; an edit after it gets one.
	core := filepath.Join(dir, "app.core")
	if r := runPyscope(t, bin, nil, "gcore", strconv.Itoa(pid), "-o", core); r.code != 0 {
		t.Fatalf("gcore: exit %d: %s", r.code, r.stderr)
	}
	r = runPyscope(t, bin, nil, "dump", core)
	if r.code != 0 || strings.Contains(r.stdout, "warning: "+dir) {
		t.Errorf("dump of a core newer than the sources: exit %d, output:\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A bundle carries copies of the sources, with their times: none is
	// newer than the bundle, whenever and wherever it is unpacked.
	bundle := filepath.Join(dir, "app.tar.zst")
	if r := runPyscope(t, bin, nil, "gcore", "--bundle", strconv.Itoa(pid), "-o", bundle); r.code != 0 {
		t.Fatalf("gcore --bundle: exit %d: %s", r.code, r.stderr)
	}
	time.Sleep(1500 * time.Millisecond)
	edit(app, helper)
	r = runPyscope(t, bin, nil, "dump", bundle)
	if r.code != 0 || strings.Contains(r.stdout, "warning: ") && strings.Contains(r.stdout, "was modified after") {
		t.Errorf("dump of a bundle: exit %d, output:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runPyscope(t, bin, nil, "dump", core)
	if r.code != 0 {
		t.Fatalf("dump of the core: exit %d: %s", r.code, r.stderr)
	}
	check("dump of the core", r.stdout, "the core was written")
	r = runPyscope(t, bin, nil, "debug", core, "-batch", "-ex", "py-bt")
	check("py-bt on the core", r.stdout, "the core was written")
}
