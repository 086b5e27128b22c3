package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// TestMissingCoreFile: a path that does not exist is a missing file, not
// "not a process ID".
func TestMissingCoreFile(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	missing := filepath.Join(t.TempDir(), "missing.core")
	for _, cmd := range []string{"dump", "debug"} {
		r := runPyscope(t, bin, nil, cmd, missing)
		checkOneLineError(t, r, missing+": no such file")
		if strings.Contains(r.stderr, "process ID\"") || strings.Contains(r.stderr, "is not a process") {
			t.Errorf("%s: %q", cmd, r.stderr)
		}
	}
	// A directory is not a core either.
	r := runPyscope(t, bin, nil, "dump", t.TempDir())
	checkOneLineError(t, r, "is a directory")
	// Nor a FIFO, refused before it is opened: opening one that no
	// process writes to would block for ever.
	fifo := filepath.Join(t.TempDir(), "core.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"dump", "debug"} {
		r = runPyscope(t, bin, nil, cmd, fifo)
		checkOneLineError(t, r, fifo+" is not a core file (not a regular file)")
	}
}

// TestMissingArgument: cobra's "accepts 1 arg(s), received 0" alone does
// not say what to give: the usage line comes with it.
func TestMissingArgument(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	// dump takes several targets, and debug gdb's EXE TARGET: one
	// argument too many is a third for debug, and never one for dump.
	for _, c := range []struct {
		cmd, usage string
		tooMany    []string
	}{
		{"dump", "usage: pyscope dump PID|CORE... [flags]", nil},
		{"debug", "usage: pyscope debug PID|CORE | debug [EXE] -c CORE | debug [EXE] -p PID [flags]", []string{"1", "2", "3"}},
		{"gcore", "usage: pyscope gcore PID [flags]", []string{"1", "2"}},
	} {
		r := runPyscope(t, bin, nil, c.cmd)
		checkOneLineError(t, r, "missing", c.usage)
		if c.tooMany != nil {
			r = runPyscope(t, bin, nil, append([]string{c.cmd}, c.tooMany...)...)
			checkOneLineError(t, r, fmt.Sprintf("%d arguments given", len(c.tooMany)), c.usage)
		}
	}
}

// checkNotToldToBeRoot: pyscope runs as root in these tests; a refusal must
// say what refused, never "run as root".
func checkNotToldToBeRoot(t *testing.T, r result) {
	t.Helper()
	for _, bad := range []string{"run pyscope as root", "as root or", "sudo"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("root is told %q: %s", bad, r.stderr)
		}
	}
}

// TestDumpPID1AsRoot dumps PID 1 as root. Where the kernel lets root read
// it, pyscope reads it (and finds no Python); where something refuses, the
// message names it or says the cause is unknown.
func TestDumpPID1AsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("run as root (scripts/test.sh does)")
	}
	bin := testenv.BuildPyscope(t)
	r := runPyscope(t, bin, nil, "dump", "1")
	if r.code == 0 {
		return // PID 1 is a Python process here, and was read
	}
	checkNotToldToBeRoot(t, r)
	if r.code != 4 {
		checkOneLineError(t, r, "process 1")
		return
	}
	checkOneLineError(t, r, "process 1", "permission denied")
	causes := []string{"cause is unknown", "user namespace", "seccomp", "security module", "ptrace_scope", "without CAP_SYS_PTRACE", "kernel thread"}
	named := false
	for _, c := range causes {
		named = named || strings.Contains(r.stderr, c)
	}
	if !named {
		t.Errorf("the refusal names no cause (one of %q): %s", causes, r.stderr)
	}
}

// TestDumpKernelThread: kthreadd (PID 2) has no user memory.
func TestDumpKernelThread(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	comm, err := os.ReadFile("/proc/2/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "kthreadd" {
		t.Fatalf("PID 2 is not kthreadd here (%q, %v): the test needs the host's PID namespace", comm, err)
	}
	r := runPyscope(t, bin, nil, "dump", "2")
	checkOneLineError(t, r, "process 2 (kthreadd) is a kernel thread")
}

// TestDumpWithoutCapSysPtrace runs pyscope as root with CAP_SYS_PTRACE
// dropped (setpriv), as in a container, against a root Python process:
// the kernel refuses because the target holds capabilities pyscope lacks.
func TestDumpWithoutCapSysPtrace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("run as root (scripts/test.sh does)")
	}
	bin := testenv.BuildPyscope(t)
	setpriv := testenv.NeedCommand(t, "setpriv", "util-linux")
	tg := testenv.StartTarget(t, anyInterp(t), "demo.py")
	cmd := exec.Command(setpriv, "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace", "--", bin, "dump", strconv.Itoa(tg.PID))
	out, err := runCmd(t, cmd)
	r := result{stderr: out, code: exitStatus(err)}
	checkOneLineError(t, r, "permission denied", "without CAP_SYS_PTRACE", "holds capabilities pyscope lacks (CAP_SYS_PTRACE")
	checkNotToldToBeRoot(t, r)
	tg.CheckRunning(t)
}

// TestDumpPython27 runs a real CPython 2.7: pyscope names the version it
// refuses instead of calling it "not a Python process".
func TestDumpPython27(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	py := testenv.Python27(t)
	cmd := exec.Command(py, "-c", "import sys, time\nsys.stdout.write('ready\\n'); sys.stdout.flush()\ntime.sleep(600)")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var b [6]byte
	if n, _ := stdout.Read(b[:]); string(b[:n]) != "ready\n" {
		t.Fatalf("%s did not start: %q", py, b[:n])
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	for _, args := range [][]string{{"dump", pid}, {"dump", "--native", pid}, {"debug", "--batch", pid}} {
		r := runPyscope(t, bin, nil, args...)
		checkOneLineError(t, r, "Python 2.7 is not supported")
	}
	if err := testenv.NotStopped(cmd.Process.Pid); err != nil {
		t.Error(err)
	}
}

// runCmd runs cmd with a deadline and returns its stderr.
func runCmd(t *testing.T, cmd *exec.Cmd) (string, error) {
	t.Helper()
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return errb.String(), err
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%v: no answer after 60 s", cmd.Args)
	}
	return "", nil
}

func exitStatus(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
