package e2e

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// TestContainer reads targets in namespaces of their own, made with the
// kernel's namespaces as container runtimes make them: a mount namespace
// where the interpreter lives at a path that does not exist on the host,
// then a PID namespace too, then a user namespace whose root is an
// unprivileged host user (rootless containers, userns-remap). pyscope
// reads each from the host (`pyscope dump HOSTPID`) and from inside
// (`nsenter --all`, as `kubectl exec` or `docker exec` would run it), and
// ps says each is contained.
func TestContainer(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	var pbs312 testenv.Interp
	for _, in := range testenv.Interpreters(t) {
		if in.Name == "pbs-3.12.3" {
			pbs312 = in
		}
	}
	if pbs312.Path == "" {
		t.Fatal("no pbs-3.12.3 in the matrix")
	}
	cases := []struct {
		name           string
		o              nsOptions
		prefix, exeRel string
	}{
		// PBS 3.12 keeps its runtime in libpython, which the target
		// maps from inside its namespace too.
		{"mount", nsOptions{}, filepath.Dir(filepath.Dir(pbs312.Path)), "bin/python3.12"},
		{"mount+pid", nsOptions{pid: true}, filepath.Dir(filepath.Dir(pbs312.Path)), "bin/python3.12"},
		// Root of the user namespace is host UID 100000, which may read
		// Debian's interpreter (not the cache under /root).
		{"mount+pid+user", nsOptions{pid: true, user: true}, "/usr", "bin/python3.11"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := startNamespaced(t, c.prefix, c.exeRel, "shapes.py", c.o)
			t.Run("host", func(t *testing.T) {
				r := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(tg.PID))
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				checkNamespacedDump(t, tg, decodeDump(t, r.stdout), false)
				// Source lines come through /proc/PID/root as well.
				txt := runPyscope(t, bin, nil, "dump", strconv.Itoa(tg.PID))
				if !strings.Contains(txt.stdout, "threading.py") || !strings.Contains(txt.stdout, "    self._target(*self._args, **self._kwargs)") {
					t.Errorf("no source lines from the namespaced stdlib:\n%.3000s", txt.stdout)
				}
			})
			t.Run("inside", func(t *testing.T) {
				r := inNamespaces(t, tg.PID, bin, "dump", "--json", strconv.Itoa(tg.Oracle.PID))
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				checkNamespacedDump(t, tg, decodeDump(t, r.stdout), true)
			})
			t.Run("ps", func(t *testing.T) {
				p := psEntry(t, runPyscope(t, bin, nil, "ps", "--json"), tg.PID)
				if p.Version != tg.Oracle.Version || p.Executable != tg.Oracle.Executable {
					t.Errorf("from the host: Python %s %s, the target says %s %s", p.Version, p.Executable, tg.Oracle.Version, tg.Oracle.Executable)
				}
				want := psContainer{PIDNamespace: c.o.pid, MountNamespace: true, UserNamespace: c.o.user, NSPID: tg.Oracle.PID}
				if p.Container == nil {
					t.Errorf("from the host: not in a container, want %+v", want)
				} else if got := *p.Container; got.PIDNamespace != want.PIDNamespace || got.MountNamespace != want.MountNamespace ||
					got.UserNamespace != want.UserNamespace || got.NSPID != want.NSPID {
					t.Errorf("from the host: container %+v, want %+v", got, want)
				}
				// From inside, the target shares every namespace with
				// pyscope, and has the PID it knows.
				p = psEntry(t, inNamespaces(t, tg.PID, bin, "ps", "--json"), tg.Oracle.PID)
				if p.Container != nil {
					t.Errorf("from inside: container %+v, want none", *p.Container)
				}
				if p.Executable != tg.Oracle.Executable {
					t.Errorf("from inside: executable %s, want %s", p.Executable, tg.Oracle.Executable)
				}
			})
		})
	}
}

// psProcess is one process of `pyscope ps --json`.
type psProcess struct {
	PID        int          `json:"pid"`
	PPID       int          `json:"ppid"`
	UID        int          `json:"uid"`
	User       string       `json:"user"`
	Version    string       `json:"version"`
	Build      *psBuild     `json:"build"`
	Executable string       `json:"executable"`
	Library    *string      `json:"library"`
	Threads    int          `json:"threads"`
	Container  *psContainer `json:"container"`
	Cmdline    []string     `json:"cmdline"`
	Error      string       `json:"error"`
}

type psBuild struct {
	Shared       bool `json:"shared"`
	Debug        bool `json:"debug"`
	FreeThreaded bool `json:"free_threaded"`
}

type psContainer struct {
	Runtime        string `json:"runtime"`
	ID             string `json:"id"`
	PIDNamespace   bool   `json:"pid_namespace"`
	MountNamespace bool   `json:"mount_namespace"`
	UserNamespace  bool   `json:"user_namespace"`
	NSPID          int    `json:"ns_pid"`
	Cgroup         string `json:"cgroup"`
}

type psList struct {
	Processes  []psProcess `json:"processes"`
	Unreadable []int       `json:"unreadable"`
}

func decodePs(t *testing.T, r result) *psList {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("ps: exit %d: %s", r.code, r.stderr)
	}
	var l psList
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("ps --json: %v\n%.2000s", err, r.stdout)
	}
	return &l
}

// psEntry is process pid in `ps --json`'s list.
func psEntry(t *testing.T, r result, pid int) psProcess {
	t.Helper()
	for _, p := range decodePs(t, r).Processes {
		if p.PID == pid {
			return p
		}
	}
	t.Fatalf("ps does not list process %d:\n%.3000s", pid, r.stdout)
	return psProcess{}
}
