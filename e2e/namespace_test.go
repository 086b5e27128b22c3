package e2e

import (
	"bufio"
	"encoding/json"
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

// nsTarget is a target in namespaces of its own, as a container runs it:
// its interpreter is mounted at a path that exists only in its mount
// namespace.
type nsTarget struct {
	PID    int            // as the host sees it
	Oracle testenv.Oracle // the target's own view: PID and TIDs as its namespace numbers them
	Exe    string         // the interpreter, as the target sees it
	Dir    string         // scratch directory, readable by the target's user
}

// nsOptions say which namespaces besides the mount one the target gets.
type nsOptions struct {
	pid bool
	// user: a user namespace whose root is host UID 100000, as rootless
	// containers and Docker's userns-remap map it.
	user bool
}

// containerUID is the host UID of root in a user-namespaced target.
const containerUID = 100000

// startNamespaced runs script under prefix/exeRel in new namespaces: prefix
// is bind-mounted at <dir>/container-root, which is an empty directory on
// the host. The target is killed when the test ends.
func startNamespaced(t *testing.T, prefix, exeRel, script string, o nsOptions) *nsTarget {
	t.Helper()
	dir, err := os.MkdirTemp("", "pyscope-ns-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777) // root of a user namespace is another user here
	inside := filepath.Join(dir, "container-root")
	if err := os.Mkdir(inside, 0o755); err != nil {
		t.Fatal(err)
	}
	oracle := filepath.Join(dir, "oracle.json")
	exe := filepath.Join(inside, exeRel)
	var sh strings.Builder
	sh.WriteString("set -e; mount --make-rprivate /; ")
	if o.pid {
		sh.WriteString("mount -t proc proc /proc; ")
	}
	fmt.Fprintf(&sh, "mount --bind %q %q; exec %q %q %q", prefix, inside, exe, testenv.TargetPath(t, script), oracle)
	cmd := exec.Command("/bin/sh", "-c", sh.String())
	cmd.Dir = dir
	cmd.Env = []string{"LC_ALL=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "PATH=/usr/bin:/bin"}
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Setpgid: true}
	if o.pid {
		attr.Cloneflags |= syscall.CLONE_NEWPID
	}
	if o.user {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: containerUID, Size: 65536}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: containerUID, Size: 65536}}
		// Host root is not mapped in there: become the namespace's root.
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	cmd.SysProcAttr = attr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Process.Kill()
		cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("target ended before it was ready: %s", stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("target not ready after 60 s: %s", stderr.String())
	}
	tg := &nsTarget{PID: cmd.Process.Pid, Exe: exe, Dir: dir}
	raw, err := os.ReadFile(oracle)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &tg.Oracle); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tg.Oracle.Executable); err == nil {
		t.Fatalf("%s exists on the host too: the test would prove nothing", tg.Oracle.Executable)
	}
	// The oracle's reporter thread ends after writing.
	deadline := time.Now().Add(20 * time.Second)
	for {
		tids, _ := testenv.Tasks(tg.PID)
		if len(tids) == len(tg.Oracle.Threads) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("target has %d threads, its oracle %d", len(tids), len(tg.Oracle.Threads))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return tg
}

// hostTIDs maps the target's TIDs as its PID namespace numbers them to the
// host's, from /proc/PID/task/TID/status (NSpid).
func (tg *nsTarget) hostTIDs(t *testing.T) map[int]int {
	t.Helper()
	tids, err := testenv.Tasks(tg.PID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int{}
	for _, tid := range tids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", tg.PID, tid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
				f := strings.Fields(v)
				inner, _ := strconv.Atoi(f[len(f)-1])
				out[inner] = tid
			}
		}
	}
	return out
}

// hostOracle is the oracle with the host's PID and TIDs.
func (tg *nsTarget) hostOracle(t *testing.T) *testenv.Oracle {
	t.Helper()
	m := tg.hostTIDs(t)
	o := tg.Oracle
	o.PID = tg.PID
	o.Threads = append([]testenv.OracleThread(nil), tg.Oracle.Threads...)
	for i := range o.Threads {
		host, ok := m[o.Threads[i].NativeID]
		if !ok {
			t.Fatalf("thread %d of the oracle is not a thread of process %d", o.Threads[i].NativeID, tg.PID)
		}
		o.Threads[i].NativeID = host
	}
	return &o
}

// checkNamespacedDump compares a dump of tg (as seen from the host, or
// from inside when inside is set) with the target's own view.
func checkNamespacedDump(t *testing.T, tg *nsTarget, d *Dump, inside bool) {
	t.Helper()
	if inside {
		// The dump numbers processes and threads as the namespace does:
		// the target's own numbers.
		if d.PID != tg.Oracle.PID {
			t.Errorf("pid %d inside, the target says it is %d", d.PID, tg.Oracle.PID)
		}
		m := tg.hostTIDs(t)
		for i := range d.Threads {
			if host, ok := m[d.Threads[i].NativeID]; ok {
				d.Threads[i].NativeID = host
			} else {
				t.Errorf("native_id %d is no thread of the target's namespace", d.Threads[i].NativeID)
			}
		}
		d.PID = tg.PID
	}
	for _, m := range diffDump(tg.PID, tg.hostOracle(t), d) {
		if strings.HasPrefix(m, "python.executable") {
			continue // samePath resolves symlinks on the host, where the path does not exist
		}
		t.Error(m)
	}
	if d.Python.Executable != tg.Oracle.Executable {
		t.Errorf("executable %q, want the target's own path %q", d.Python.Executable, tg.Oracle.Executable)
	}
	if err := testenv.NotStopped(tg.PID); err != nil {
		t.Error(err)
	}
}

// inNamespaces runs bin inside every namespace of process pid (nsenter
// --all), as pyscope runs inside a container.
func inNamespaces(t *testing.T, pid int, bin string, args ...string) result {
	t.Helper()
	nsenter := testenv.NeedCommand(t, "nsenter", "util-linux")
	return runPyscope(t, nsenter, nil, append([]string{"--target", strconv.Itoa(pid), "--all", "--wd=/", bin}, args...)...)
}
