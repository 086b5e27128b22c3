package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pyscope/internal/testenv"
)

// psFacts is what facts.py says of itself.
type psFacts struct {
	PID          int      `json:"pid"`
	PPID         int      `json:"ppid"`
	UID          int      `json:"uid"`
	User         string   `json:"user"`
	Version      string   `json:"version"`
	Executable   string   `json:"executable"`
	Shared       bool     `json:"shared"`
	Library      *string  `json:"library"`
	Debug        bool     `json:"debug"`
	FreeThreaded bool     `json:"free_threaded"`
	Threads      int      `json:"threads"`
	Cmdline      []string `json:"cmdline"`
}

// startFacts runs facts.py under python (as cred's user when set) and
// returns what it says of itself.
func startFacts(t *testing.T, python string, cred *syscall.Credential) psFacts {
	t.Helper()
	dir, err := os.MkdirTemp("", "pyscope-ps-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	path := filepath.Join(dir, "facts.json")
	cmd := exec.Command(python, testenv.TargetPath(t, "facts.py"), path)
	cmd.Dir = dir
	cmd.Env = []string{"LC_ALL=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ready <- sc.Scan() && sc.Text() == "ready"
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("%s facts.py: %s", python, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s facts.py not ready: %s", python, stderr.String())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f psFacts
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	testenv.WaitSleeping(t, f.PID)
	return f
}

// psRow is `ps -o pid=,ppid=,user=,nlwp=,args=` of one process.
type psRow struct {
	ppid, threads int
	user, args    string
}

// procps runs ps for pids; processes gone meanwhile are absent.
func procps(t *testing.T, pids []int) map[int]psRow {
	t.Helper()
	ps := testenv.NeedCommand(t, "ps", "procps")
	var list []string
	for _, p := range pids {
		list = append(list, strconv.Itoa(p))
	}
	out, _ := exec.Command(ps, "-ww", "-o", "pid=,ppid=,user:32=,nlwp=,args=", "-p", strings.Join(list, ",")).Output()
	rows := map[int]psRow{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		pid, _ := strconv.Atoi(f[0])
		ppid, _ := strconv.Atoi(f[1])
		n, _ := strconv.Atoi(f[3])
		rows[pid] = psRow{ppid: ppid, user: f[2], threads: n, args: strings.Join(f[4:], " ")}
	}
	return rows
}

// TestPs runs facts.py under every interpreter of the suite and Debian's
// debug build, and checks `pyscope ps` against what each interpreter says
// of itself (version, where its runtime was loaded from, debug,
// free-threaded, executable, threads, argv) and against ps(1) for every
// row it prints. A child running no Python is not listed. Run as another
// user, ps lists that user's Python and none of root's.
func TestPs(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	testenv.NeedPackages(t, "python3.11-dbg")
	pythons := []string{"/usr/bin/python3.11d"}
	for _, in := range testenv.Interpreters(t) {
		pythons = append(pythons, in.Path)
	}
	var facts []psFacts
	for _, py := range pythons {
		facts = append(facts, startFacts(t, py, nil))
	}
	sleep := exec.Command("sleep", "100000")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })

	t.Run("json", func(t *testing.T) {
		l := decodePs(t, runPyscope(t, bin, nil, "ps", "--json"))
		for _, f := range facts {
			p := psEntry(t, runPyscopeCached(l), f.PID)
			want := psProcess{PID: f.PID, PPID: f.PPID, UID: f.UID, User: f.User, Version: f.Version,
				Build:      &psBuild{Shared: f.Shared, Debug: f.Debug, FreeThreaded: f.FreeThreaded},
				Executable: f.Executable, Library: f.Library, Threads: f.Threads, Cmdline: f.Cmdline}
			if p.Build == nil || *p.Build != *want.Build || p.PPID != want.PPID || p.UID != want.UID || p.User != want.User ||
				p.Version != want.Version || p.Executable != want.Executable || str(p.Library) != str(want.Library) ||
				p.Threads != want.Threads || !slices.Equal(p.Cmdline, want.Cmdline) || p.Container != nil || p.Error != "" {
				t.Errorf("%s:\nps says   %s\nit says   %s", f.Executable, jsonString(p), jsonString(want))
			}
		}
		for _, p := range l.Processes {
			if p.PID == sleep.Process.Pid {
				t.Errorf("ps lists sleep (%d), which runs no Python", p.PID)
			}
		}
	})
	t.Run("text", func(t *testing.T) {
		r := runPyscope(t, bin, nil, "ps")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if h := strings.Fields(lines[0]); strings.Join(h, " ") != "PID PPID USER PYTHON BUILD THREADS CONTAINER EXECUTABLE COMMAND" {
			t.Fatalf("header %q", lines[0])
		}
		rows := map[int][]string{}
		var pids []int
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			pid, err := strconv.Atoi(f[0])
			if err != nil || len(f) < 9 {
				continue // a note under the table
			}
			rows[pid] = f
			pids = append(pids, pid)
		}
		// Every row against ps(1), for the processes still there: the
		// user of each; the rest for the suite's interpreters, whose
		// threads and parents do not change meanwhile (other processes
		// of this machine may).
		ours := map[int]bool{}
		for _, f := range facts {
			ours[f.PID] = true
		}
		for pid, want := range procps(t, pids) {
			f := rows[pid]
			if !ours[pid] {
				if f[2] != want.user {
					t.Errorf("pyscope ps: %q\nps(1): user %s", strings.Join(f, " "), want.user)
				}
				continue
			}
			args := strings.Join(f[8:], " ")
			if strings.ContainsAny(args, `\`) {
				// pyscope escapes control characters of a command line
				// (\n, \x1b); ps(1) shows them its own way.
				args = want.args
			}
			if f[1] != strconv.Itoa(want.ppid) || f[2] != want.user || f[5] != strconv.Itoa(want.threads) || args != want.args {
				t.Errorf("pyscope ps: %q\nps(1):      ppid %d user %s threads %d args %q", strings.Join(f, " "), want.ppid, want.user, want.threads, want.args)
			}
		}
		for _, f := range facts {
			row, ok := rows[f.PID]
			if !ok {
				t.Errorf("%s (%d) not listed:\n%s", f.Executable, f.PID, r.stdout)
				continue
			}
			build := "static"
			if f.Shared {
				build = "shared"
			}
			if f.Debug {
				build += ",debug"
			}
			if f.FreeThreaded {
				build += ",free-threaded"
			}
			if row[3] != f.Version || row[4] != build || row[6] != "-" || row[7] != f.Executable {
				t.Errorf("%s: %q, want Python %s, build %s, no container", f.Executable, strings.Join(row, " "), f.Version, build)
			}
		}
		if _, ok := rows[sleep.Process.Pid]; ok {
			t.Errorf("ps lists sleep, which runs no Python")
		}
	})
	t.Run("stops nothing", func(t *testing.T) {
		// strace records every call that could stop or signal a process:
		// ps makes no ptrace call, signals no other process, and reads
		// memory (process_vm_readv) only of Python 3.10 processes.
		straceBin := testenv.NeedCommand(t, "strace", "strace")
		log := filepath.Join(t.TempDir(), "strace.txt")
		r := runPyscope(t, straceBin, nil, "-f", "-qq", "-e", "trace=execve,ptrace,process_vm_readv,kill,tgkill,tkill", "-e", "signal=none", "-o", log, bin, "ps", "--json")
		l := decodePs(t, r)
		for _, f := range facts {
			psEntry(t, runPyscopeCached(l), f.PID)
		}
		version := map[int]string{}
		for _, p := range l.Processes {
			version[p.PID] = p.Version
			if p.Error != "" {
				version[p.PID] = "?"
			}
		}
		data, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		callRe := regexp.MustCompile(`^(\d+) +(ptrace|process_vm_readv|kill|tgkill|tkill)\((?:PTRACE_[A-Z_]+, )?(-?\d+)`)
		self := 0 // pyscope's PID: the execve strace ran it with
		if m := regexp.MustCompile(`^(\d+) +execve\(`).FindStringSubmatch(string(data)); m != nil {
			self, _ = strconv.Atoi(m[1])
		}
		if self == 0 {
			t.Fatalf("no execve in strace's log:\n%s", data)
		}
		for _, line := range strings.Split(string(data), "\n") {
			m := callRe.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			pid, _ := strconv.Atoi(m[3])
			switch m[2] {
			case "ptrace":
				t.Errorf("ps traced %d: %s", pid, line)
			case "process_vm_readv":
				if v := version[pid]; v != "?" && !strings.HasPrefix(v, "3.10.") {
					t.Errorf("ps read the memory of %d (Python %q): %s", pid, v, line)
				}
			default:
				if pid != self {
					t.Errorf("ps signalled %d: %s", pid, line)
				}
			}
		}
		for _, f := range facts {
			if err := testenv.NotStopped(f.PID); err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("another user", func(t *testing.T) {
		nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
		mine := startFacts(t, testenv.DebianPython, nobody)
		r := runPyscope(t, bin, nobody, "ps", "--json")
		l := decodePs(t, r)
		found := false
		for _, p := range l.Processes {
			if p.UID != 65534 {
				t.Errorf("as nobody, ps lists process %d of UID %d", p.PID, p.UID)
			}
			found = found || p.PID == mine.PID
		}
		if !found {
			t.Errorf("as nobody, ps does not list nobody's Python %d:\n%s", mine.PID, r.stdout)
		}
		for _, f := range facts {
			if !slices.Contains(l.Unreadable, f.PID) {
				t.Errorf("as nobody, root's Python %d is not counted as unreadable", f.PID)
			}
		}
		// Text says so on stderr, with the remedy.
		r = runPyscope(t, bin, nobody, "ps")
		if !strings.Contains(r.stderr, "could not be read by this user") || !strings.Contains(r.stderr, "CAP_SYS_PTRACE") {
			t.Errorf("as nobody, stderr %q", r.stderr)
		}
	})
}

// runPyscopeCached wraps an already decoded list for psEntry.
func runPyscopeCached(l *psList) result {
	b, _ := json.Marshal(l)
	return result{stdout: string(b)}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
