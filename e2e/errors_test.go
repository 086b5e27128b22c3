package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// freePID returns a PID no process has right now.
func freePID(t *testing.T) int {
	raw, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	max, err := strconv.Atoi(string(bytes.TrimSpace(raw)))
	if err != nil {
		t.Fatal(err)
	}
	for pid := max - 1; pid > 1; pid-- {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			return pid
		}
	}
	t.Fatal("no free pid")
	return 0
}

// anyInterp is the interpreter the error tests use as a Python target.
func anyInterp(t *testing.T) testenv.Interp {
	return testenv.Interpreters(t)[0]
}

func TestDumpNoSuchProcess(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	r := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(freePID(t)))
	checkOneLineError(t, r, "no such process", "check the PID")
}

func TestDumpNotPython(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(cmd.Process.Pid))
	checkOneLineError(t, r, "not a Python process")
	if err := testenv.NotStopped(cmd.Process.Pid); err != nil {
		t.Error(err)
	}
}

// TestThreadIDForPID: a thread's ID (what top -H shows) is refused with
// the process's ID as the remedy, by every command that takes a PID:
// /proc/TID reads as the whole process, so it used to be dumped under the
// thread's ID ("pid" in JSON was the TID).
func TestThreadIDForPID(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	tg := testenv.StartTarget(t, anyInterp(t), "demo.py")
	tid := 0
	for _, th := range tg.Oracle.Threads {
		if !th.IsMain {
			tid = th.NativeID
		}
	}
	if tid == 0 || tid == tg.PID {
		t.Fatalf("the oracle has no thread besides the main one: %+v", tg.Oracle.Threads)
	}
	want := fmt.Sprintf("%d is a thread of process %d", tid, tg.PID)
	for _, args := range [][]string{{"dump", "--json"}, {"dump", "--locals"}, {"gcore", "-o", filepath.Join(t.TempDir(), "core")},
		{"record", "-d", "1", "-o", filepath.Join(t.TempDir(), "p.html")}} {
		r := runPyscope(t, bin, nil, append(args, strconv.Itoa(tid))...)
		checkOneLineError(t, r, want, fmt.Sprintf("give the process ID, %d", tg.PID))
	}
	tg.CheckRunning(t)
}

func TestDumpPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs pyscope as nobody against a root process: run it as root (scripts/test.sh does)")
	}
	bin := testenv.BuildPyscope(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	tg := testenv.StartTarget(t, anyInterp(t), "demo.py")
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	r := runPyscope(t, bin, cred, "dump", "--json", strconv.Itoa(tg.PID))
	checkOneLineError(t, r, "permission denied", "CAP_SYS_PTRACE")
	tg.CheckRunning(t)
}

// TestDumpAlreadyTraced dumps a target that gdb holds attached and
// stopped: the default dump needs to stop nothing; --stop-all names gdb.
func TestDumpAlreadyTraced(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	if _, err := exec.LookPath("gdb"); err != nil {
		t.Fatal("gdb not installed: run ./scripts/test.sh (it installs it)")
	}
	tg := testenv.StartTarget(t, anyInterp(t), "demo.py")
	dir := t.TempDir()
	attached := filepath.Join(dir, "attached")
	release := filepath.Join(dir, "release")
	gdb := exec.Command("gdb", "-nx", "-q", "-batch",
		"-iex", "set debuginfod enabled off",
		"-iex", "set auto-load off",
		"-p", strconv.Itoa(tg.PID),
		"-ex", "shell touch "+attached,
		"-ex", fmt.Sprintf("shell while [ ! -e %s ]; do sleep 0.1; done", release),
		"-ex", "detach")
	gdb.Env = append(os.Environ(), "DEBUGINFOD_URLS=")
	var gdbOut bytes.Buffer
	gdb.Stdout, gdb.Stderr = &gdbOut, &gdbOut
	if err := gdb.Start(); err != nil {
		t.Fatal(err)
	}
	gdbDone := make(chan error, 1)
	go func() { gdbDone <- gdb.Wait() }()
	// Let gdb go before the target is killed, even on failure.
	t.Cleanup(func() {
		os.WriteFile(release, nil, 0o644)
		select {
		case <-gdbDone:
		case <-time.After(30 * time.Second):
			gdb.Process.Kill()
			<-gdbDone
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(attached); err == nil {
			break
		}
		select {
		case err := <-gdbDone:
			gdbDone <- err
			t.Fatalf("gdb exited early: %v\n%s", err, gdbOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("gdb did not attach within 60 s\n%s", gdbOut.String())
		}
	}
	// gdb keeps every thread stopped, so none can change the snapshot:
	// the default dump stops nothing and needs no ptrace.
	r := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(tg.PID))
	if d := decodeStopDump(t, r); d.Stop.Policy != "gil" || len(d.Stop.Stopped) != 0 {
		t.Errorf("a target gdb holds stopped: the default dump stopped %+v", d.Stop)
	}
	r = runPyscope(t, bin, nil, "dump", "--json", "--stop-all", strconv.Itoa(tg.PID))
	checkOneLineError(t, r, "already traced", fmt.Sprintf("process %d (gdb)", gdb.Process.Pid), "--no-block")

	os.WriteFile(release, nil, 0o644)
	select {
	case err := <-gdbDone:
		gdbDone <- err
		if err != nil {
			t.Fatalf("gdb: %v\n%s", err, gdbOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gdb did not detach")
	}
	// Once gdb detached, the target must run as before.
	tg.CheckRunning(t)
}

// TestDumpUnsupportedVersion runs a real process whose executable exports
// _PyRuntime and a Py_Version of 3.15.0: pyscope must name the version and
// refuse, rather than read memory with a layout that does not fit.
func TestDumpUnsupportedVersion(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "fake.c")
	exe := filepath.Join(dir, "python3.15")
	code := `#include <unistd.h>
const unsigned long Py_Version = 0x030F00F0;
char _PyRuntime[4096] = {1};
int main(void) { for (;;) pause(); }
`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-O0", "-rdynamic", "-o", exe, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	cmd := exec.Command(exe)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	time.Sleep(100 * time.Millisecond)
	r := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(cmd.Process.Pid))
	checkOneLineError(t, r, "Python 3.15.0 is not supported")
	if err := testenv.NotStopped(cmd.Process.Pid); err != nil {
		t.Error(err)
	}
}

// TestRecordAlongsidePySpy: py-spy and pyscope sampling one process at
// once each find threads the other holds for a moment; pyscope waits that
// moment out, and a failure, if any, names py-spy, never a permission
// problem pyscope cannot explain. A tracer that holds one thread (not the
// main one) for good is named, by PID and name, with the remedy.
func TestRecordAlongsidePySpy(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	pyspy := filepath.Join(testenv.PyTools(t), "py-spy")
	in := pick(t, "pbs-3.12")[0]
	tg := testenv.StartPlain(t, in, "shares.py", "ready")
	spy := exec.Command(pyspy, "record", "-r", "200", "-d", "20", "-f", "raw", "-o", filepath.Join(t.TempDir(), "spy.txt"), "-p", strconv.Itoa(tg.PID))
	var spyOut bytes.Buffer
	spy.Stdout, spy.Stderr = &spyOut, &spyOut
	if err := spy.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		spy.Process.Signal(os.Interrupt)
		spy.Wait()
		tg.CheckRunning(t)
	}()
	// py-spy samples once it has attached; wait until it is seen tracing.
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", tg.PID)); !bytes.Contains(b, []byte("TracerPid:\t0\n")) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("py-spy never traced the target\n%s", spyOut.String())
		}
	}
	_, r := record(t, bin, time.Minute, "-d", "3", "-r", "200", "-f", "collapsed", strconv.Itoa(tg.PID))
	if strings.Contains(r.stderr, "permission denied") || strings.Contains(r.stderr, "CAP_SYS_PTRACE") {
		t.Errorf("failures not put down to py-spy:\n%s", r.stderr)
	}
	if _, failed, ok := strings.Cut(r.stderr, "samples failed (counted in the profile): "); ok {
		failed, _, _ = strings.Cut(failed, "\n")
		for _, reason := range regexp.MustCompile(`(?:^|; )\d+ × `).Split(failed, -1)[1:] {
			if !strings.Contains(reason, "already traced by process N (py-spy)") {
				t.Errorf("a failure that does not name py-spy: %s", reason)
			}
		}
	}
	for i := 0; i < 40; i++ {
		if r := runPyscope(t, bin, nil, "dump", "--stop-all", strconv.Itoa(tg.PID)); r.code != 0 {
			checkOneLineError(t, r, "already traced", fmt.Sprintf("process %d (py-spy)", spy.Process.Pid), "--no-block", "--nonblocking")
		}
	}
	spy.Process.Signal(os.Interrupt)
	spy.Wait()

	// A tracer of one worker thread only, for good.
	tids, err := testenv.Tasks(tg.PID)
	if err != nil || len(tids) < 2 {
		t.Fatalf("threads of %d: %v %v", tg.PID, tids, err)
	}
	worker := tids[len(tids)-1]
	if worker == tg.PID {
		worker = tids[0]
	}
	tracer := exec.Command(in.Path, "-c", `import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
if libc.ptrace(0x4206, int(sys.argv[1]), None, None) != 0:  # PTRACE_SEIZE: traced, not stopped
    sys.exit("seize: errno %d" % ctypes.get_errno())
print("seized", flush=True)
time.sleep(600)`, strconv.Itoa(worker))
	out, err := tracer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tracer.Stderr = os.Stderr
	if err := tracer.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { tracer.Process.Kill(); tracer.Wait() }()
	line := make([]byte, 7)
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "seized\n" {
		t.Fatalf("the tracer did not seize thread %d: %q %v", worker, line, err)
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", tracer.Process.Pid))
	r2 := runPyscope(t, bin, nil, "dump", "--stop-all", strconv.Itoa(tg.PID))
	checkOneLineError(t, r2, "already traced", fmt.Sprintf("process %d (%s)", tracer.Process.Pid, strings.TrimSpace(string(comm))), "--no-block", "--nonblocking")
}
