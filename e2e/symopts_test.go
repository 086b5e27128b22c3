package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/elfx"
	"pyscope/internal/testenv"
)

// withoutDefaultDebug runs pyscope in a mount namespace of its own where
// /usr/lib/debug is an empty tmpfs, so the default debug directory finds
// nothing, with a symbol cache of its own (nothing remembered from a run
// that had the debug files).
func withoutDefaultDebug(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private",
		"sh", "-c", `mount -t tmpfs none ` + elfx.DefaultDebugDir + ` && exec "$@"`, "sh", bin}, args...)...)
	cmd.Dir = "/"
	cmd.Env = append(append(os.Environ(), "PYSCOPE_CACHE="+t.TempDir()), env...)
	return runUntil(t, ctx, cmd, "pyscope "+strings.Join(args, " ")+" (no default debug files)")
}

// nativeLines is every thread's frames as btFromJSON lines (file:line and
// inlined frames are what debug files add), by TID.
func nativeLines(t *testing.T, what, out string) map[int][]string {
	t.Helper()
	var d struct {
		Threads []struct {
			NativeID     int         `json:"native_id"`
			Frames       []jsonFrame `json:"frames"`
			NativeFrames []jsonFrame `json:"native_frames"`
			Warnings     []string    `json:"warnings"`
		} `json:"threads"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
	m := map[int][]string{}
	for _, th := range d.Threads {
		m[th.NativeID] = btFromJSON(th.Frames, th.Warnings, th.NativeFrames)
	}
	return m
}

// TestDebugDir: with Debian's debug files hidden from their default place
// and given with --debug-dir (a private copy laid out by build-id), or
// served by a real debuginfod server with --debuginfod, dump --native and
// the session's bt find the same file:line and inlined frames as the
// default place gives, and gdb's names and PCs; without an option they
// find none, so the option is what made the difference.
func TestDebugDir(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	var deb testenv.Interp
	for _, in := range testenv.Interpreters(t) {
		if in.Name == "debian-3.11" {
			deb = in
		}
	}
	dbg := filepath.Join(t.TempDir(), "dbg")
	os.MkdirAll(dbg, 0o755)
	copyTree(t, filepath.Join(elfx.DefaultDebugDir, ".build-id"), filepath.Join(dbg, ".build-id"))
	pyID := buildID(t, deb.Path)
	if _, err := os.Stat(filepath.Join(dbg, ".build-id", pyID[:2], pyID[2:]+".debug")); err != nil {
		t.Fatalf("no debug file of %s by build-id (python3.11-dbg): %v", deb.Path, err)
	}

	tg, o := startNative(t, deb)
	pid := strconv.Itoa(tg.PID)
	cache := t.TempDir()
	def := exec.Command(bin, "dump", "--native-all", "--json", pid)
	def.Env = append(os.Environ(), "PYSCOPE_CACHE="+cache)
	raw, err := def.Output()
	if err != nil {
		t.Fatalf("dump with the default debug directory: %v", err)
	}
	want := nativeLines(t, "default", string(raw))
	withFile := 0
	for _, l := range want[o.MainTID] {
		if strings.Contains(l, " python3.11 ../") {
			withFile++
		}
	}
	if withFile == 0 {
		t.Fatalf("the default debug directory gave python3.11 no file:line:\n%s", strings.Join(want[o.MainTID], "\n"))
	}

	r := withoutDefaultDebug(t, bin, nil, "dump", "--native-all", "--json", pid)
	if r.code != 0 {
		t.Fatalf("dump, debug files hidden: exit %d\n%s", r.code, r.stderr)
	}
	for tid, lines := range nativeLines(t, "hidden", r.stdout) {
		for _, l := range lines {
			if strings.Contains(l, " python3.11 ../") || strings.HasPrefix(l, "native inlined ") {
				t.Errorf("thread %d: debug information with /usr/lib/debug hidden: %s", tid, l)
			}
		}
	}

	r = withoutDefaultDebug(t, bin, nil, "dump", "--native-all", "--json", "--debug-dir", dbg, pid)
	if r.code != 0 {
		t.Fatalf("dump --debug-dir: exit %d\n%s", r.code, r.stderr)
	}
	got := nativeLines(t, "--debug-dir", r.stdout)
	for tid, w := range want {
		if fmt.Sprint(got[tid]) != fmt.Sprint(w) {
			t.Errorf("thread %d: dump --debug-dir\n  %s\nbut the default debug directory\n  %s", tid, strings.Join(got[tid], "\n  "), strings.Join(w, "\n  "))
		}
	}
	if len(got) != len(want) {
		t.Errorf("dump --debug-dir: %d threads, the default %d", len(got), len(want))
	}
	var nd NativeDump
	if err := json.Unmarshal([]byte(r.stdout), &nd); err != nil {
		t.Fatal(err)
	}
	compareWithGDB(t, &nd, gdbFrames(t, "-p", pid))

	// The session: the same bt, and info sharedlibrary names the file.
	script := []string{"-ex", "info sharedlibrary"}
	for n := 1; n <= len(want); n++ {
		script = append(script, "-ex", fmt.Sprintf("thread %d", n), "-ex", "bt")
	}
	r = withoutDefaultDebug(t, bin, nil, append([]string{"debug", pid, "--batch", "--debug-dir", dbg}, script...)...)
	if r.code != 0 {
		t.Fatalf("debug --debug-dir: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	withDir := r.stdout
	wantContains(t, "info sharedlibrary --debug-dir", withDir, deb.Path+" (debug: "+filepath.Join(dbg, ".build-id", pyID[:2], pyID[2:]+".debug")+")")
	defSession := runPyscope(t, bin, nil, append([]string{"debug", pid, "--batch"}, script...)...)
	if defSession.code != 0 {
		t.Fatalf("debug: exit %d\n%s", defSession.code, defSession.stderr)
	}
	if a, b := sessionBts(withDir), sessionBts(defSession.stdout); a != b || !strings.Contains(a, " at ../") {
		t.Errorf("debug --debug-dir's bt:\n%s\nbut with the default debug directory:\n%s", a, b)
	}
	r = withoutDefaultDebug(t, bin, nil, append([]string{"debug", pid, "--batch"}, script...)...)
	if regexp.MustCompile(`(?m)^0x\S+ +0x\S+ +Yes +Yes +\S+ +`+regexp.QuoteMeta(deb.Path)+`\b`).MatchString(r.stdout) || strings.Contains(sessionBts(r.stdout), " at ../") {
		t.Errorf("debug found debug information with /usr/lib/debug hidden and no --debug-dir:\n%s", r.stdout)
	}

	// --debuginfod: the same files from a real debuginfod server.
	env := []string{"DEBUGINFOD_URLS=" + startDebuginfod(t, dbg, pyID), "DEBUGINFOD_CACHE_PATH=" + t.TempDir()}
	r = withoutDefaultDebug(t, bin, env, "dump", "--native-all", "--json", "--debuginfod", pid)
	if r.code != 0 {
		t.Fatalf("dump --debuginfod: exit %d\n%s", r.code, r.stderr)
	}
	got = nativeLines(t, "--debuginfod", r.stdout)
	for tid, w := range want {
		if fmt.Sprint(got[tid]) != fmt.Sprint(w) {
			t.Errorf("thread %d: dump --debuginfod\n  %s\nbut the default debug directory\n  %s", tid, strings.Join(got[tid], "\n  "), strings.Join(w, "\n  "))
		}
	}
	r = withoutDefaultDebug(t, bin, env, append([]string{"debug", pid, "--batch", "--debuginfod"}, script...)...)
	if r.code != 0 {
		t.Fatalf("debug --debuginfod: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if a, b := sessionBts(r.stdout), sessionBts(defSession.stdout); a != b {
		t.Errorf("debug --debuginfod's bt:\n%s\nbut with the default debug directory:\n%s", a, b)
	}
	tg.CheckRunning(t)
}

// startDebuginfod serves the debug files under dir with elfutils'
// debuginfod and returns its URL once it serves the debug file of id.
func startDebuginfod(t *testing.T, dir, id string) string {
	t.Helper()
	testenv.NeedPackages(t, "debuginfod")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("debuginfod", "-F", "-L", "-d", filepath.Join(t.TempDir(), "db.sqlite"), "-p", strconv.Itoa(port), "-t", "1", dir)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(url + "/buildid/" + id + "/debuginfo"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("debuginfod never served %s:\n%s", id, logs.String())
		}
	}
}

// sessionBts is a batch session's output without info sharedlibrary's
// table (whose debug paths differ), i.e. the threads' bt.
func sessionBts(out string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(l, "0x") || strings.HasPrefix(l, "From ") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}
