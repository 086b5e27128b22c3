package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"pyscope/internal/testenv"
)

// TestNativeSymbolCache: native symbols remembered from a first dump give a
// second dump exactly the same frames, without reading DWARF again.
func TestNativeSymbolCache(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	var deb testenv.Interp
	for _, in := range testenv.Interpreters(t) {
		if in.Name == "debian-3.11" {
			deb = in
		}
	}
	tg := testenv.StartTarget(t, deb, "shapes.py")
	cache := t.TempDir()
	run := func() string {
		cmd := exec.Command(bin, "dump", "--native", "--json", strconv.Itoa(tg.PID))
		cmd.Env = append(os.Environ(), "PYSCOPE_CACHE="+cache)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("pyscope: %v", err)
		}
		return string(out)
	}
	strip := func(s string) string { // the pause differs from run to run
		var d map[string]any
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			t.Fatal(err)
		}
		delete(d, "pause_us")
		b, _ := json.Marshal(d)
		return string(b)
	}
	first := run()
	files, _ := filepath.Glob(filepath.Join(cache, "symbols", "*.json"))
	if len(files) == 0 {
		t.Fatal("no symbol cache written")
	}
	second := run()
	if strip(first) != strip(second) {
		t.Errorf("cached symbols differ from fresh ones:\n%s\nvs\n%s", first, second)
	}
	tg.CheckRunning(t)
}
