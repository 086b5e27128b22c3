package live

import (
	"errors"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// PIDs lists the processes in /proc, in no particular order.
func PIDs() ([]int, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out, nil
}

// ExecutablePath is process pid's executable as the process sees it,
// from /proc/PID/exe: "" for a kernel thread; a process this user may not
// read fails with target.ErrPermission.
func ExecutablePath(pid int) (string, error) {
	l, err := os.Readlink(procPath(pid, "exe"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && isKernelThread(pid) {
			return "", nil
		}
		return "", identityError(pid, err)
	}
	return stripRoot(l, rootPrefix(pid)), nil
}

// MappedFiles lists the distinct files process pid maps, as the process
// sees them, from /proc/PID/maps: nothing of its memory is read.
func MappedFiles(pid int) ([]string, error) {
	b, err := readProcFile(procPath(pid, "maps"))
	if err != nil {
		return nil, identityError(pid, err)
	}
	maps, err := parseMaps(b, rootPrefix(pid))
	if err != nil {
		return nil, err
	}
	var files []string
	seen := map[string]bool{}
	for _, m := range maps {
		if m.Path != "" && !strings.HasPrefix(m.Path, "[") && !seen[m.Path] {
			seen[m.Path] = true
			files = append(files, m.Path)
		}
	}
	return files, nil
}

// OpenExecutable opens process pid's executable through /proc/PID/exe,
// which reaches it whatever namespace it lives in.
func OpenExecutable(pid int) (*os.File, error) {
	f, err := os.Open(procPath(pid, "exe"))
	if err != nil {
		return nil, identityError(pid, err)
	}
	return f, nil
}

func rootPrefix(pid int) string {
	if root, err := os.Readlink(procPath(pid, "root")); err == nil && root != "/" {
		return strings.TrimSuffix(root, "/")
	}
	return ""
}

func identityError(pid int, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, unix.ESRCH):
		return noProcessError(pid)
	case errors.Is(err, os.ErrPermission):
		return permissionError(pid, "read")
	}
	return err
}

// Identity is what /proc says of a process without reading its memory or
// stopping it.
type Identity struct {
	PID, PPID int
	UID       int
	User      string // the UID's name on this host; "" when unknown
	Threads   int
	Cmdline   []string
	// NSPID is the process's PID in its own PID namespace.
	NSPID     int
	Container Container
}

// Container says how a process is set apart from pyscope: namespaces of
// its own, and the container runtime its control group names.
type Container struct {
	// PIDNamespace, MountNamespace and UserNamespace are set when the
	// process's namespace is not pyscope's.
	PIDNamespace, MountNamespace, UserNamespace bool
	// Runtime is the container runtime or orchestrator the cgroup path
	// names ("docker", "kubernetes", ...), ID the container's ID or name
	// there; both "" when the path names none.
	Runtime, ID string
	Cgroup      string // the cgroup path, as pyscope's cgroup namespace shows it
}

// Contained is true when the process runs in a container: a runtime's
// cgroup, or a PID or mount namespace other than pyscope's.
func (c Container) Contained() bool {
	return c.Runtime != "" || c.PIDNamespace || c.MountNamespace
}

// Identify reads process pid's identity from /proc/PID/{stat,status,
// cmdline,cgroup,ns}.
func Identify(pid int) (Identity, error) {
	id := Identity{PID: pid}
	b, err := readProcFile(procPath(pid, "stat"))
	if err != nil {
		return id, identityError(pid, err)
	}
	if f, err := statFields(b); err == nil {
		id.PPID, _ = strconv.Atoi(f[4-3])
	}
	st, err := readProcFile(procPath(pid, "status"))
	if err != nil {
		return id, identityError(pid, err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "Uid":
			id.UID, _ = strconv.Atoi(f[0])
		case "Threads":
			id.Threads, _ = strconv.Atoi(f[0])
		case "NSpid":
			id.NSPID, _ = strconv.Atoi(f[len(f)-1])
		}
	}
	if u, err := user.LookupId(strconv.Itoa(id.UID)); err == nil {
		id.User = u.Username
	}
	if b, err := readProcFile(procPath(pid, "cmdline")); err == nil {
		id.Cmdline = strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if len(id.Cmdline) == 1 && id.Cmdline[0] == "" {
			id.Cmdline = nil
		}
	}
	id.Container = containerOf(pid)
	return id, nil
}

func containerOf(pid int) Container {
	c := Container{PIDNamespace: otherNamespace(pid, "pid"), MountNamespace: otherNamespace(pid, "mnt"),
		UserNamespace: otherNamespace(pid, "user")}
	if b, err := readProcFile(procPath(pid, "cgroup")); err == nil {
		c.Cgroup = cgroupPath(string(b))
		c.Runtime, c.ID = ContainerRuntime(c.Cgroup)
	}
	return c
}

// cgroupPath picks the cgroup v2 path ("0::/…") of /proc/PID/cgroup, or
// on a v1-only host the systemd hierarchy's, else the first.
func cgroupPath(s string) string {
	var first, systemd string
	for _, line := range strings.Split(s, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			return parts[2]
		case parts[1] == "name=systemd":
			systemd = parts[2]
		case first == "":
			first = parts[2]
		}
	}
	if systemd != "" {
		return systemd
	}
	return first
}

var containerID = regexp.MustCompile(`[0-9a-f]{64}`)

// runtimes are the cgroup path markers of container runtimes, most
// specific first: Kubernetes pods run under another runtime's scope.
var runtimes = []struct{ marker, name string }{
	{"kubepods", "kubernetes"},
	{"/docker/", "docker"}, {"docker-", "docker"},
	{"libpod-", "podman"}, {"/libpod_parent/", "podman"},
	{"crio-", "cri-o"},
	{"cri-containerd-", "containerd"}, {"/containerd/", "containerd"}, {"nerdctl-", "containerd"},
	{"/lxc.payload.", "lxc"}, {"/lxc/", "lxc"},
	{"/machine.slice/machine-", "systemd-nspawn"},
}

// ContainerRuntime names the container runtime a cgroup path belongs to
// and the container's ID (its first 12 hex digits, as docker ps shows
// them) or name; "" when the path is no container runtime's.
func ContainerRuntime(cgroup string) (runtime, id string) {
	for _, r := range runtimes {
		if !strings.Contains(cgroup, r.marker) {
			continue
		}
		if m := containerID.FindAllString(cgroup, -1); len(m) > 0 {
			return r.name, m[len(m)-1][:12]
		}
		switch r.name {
		case "lxc":
			rest := cgroup[strings.Index(cgroup, r.marker)+len(r.marker):]
			name, _, _ := strings.Cut(rest, "/")
			return r.name, name
		case "systemd-nspawn":
			for _, seg := range strings.Split(cgroup, "/") {
				if name, ok := strings.CutPrefix(seg, "machine-"); ok {
					return r.name, strings.ReplaceAll(strings.TrimSuffix(name, ".scope"), `\x2d`, "-")
				}
			}
		}
		return r.name, ""
	}
	return "", ""
}

// ParentPID is process pid's parent, from /proc/PID/stat (0 when unknown).
func ParentPID(pid int) int {
	b, err := readProcFile(procPath(pid, "stat"))
	if err != nil {
		return 0
	}
	f, err := statFields(b)
	if err != nil {
		return 0
	}
	ppid, _ := strconv.Atoi(f[4-3])
	return ppid
}

// OtherPIDNamespace says whether the process numbers its threads in a PID
// namespace other than pyscope's (a container): the thread IDs CPython
// records are then not the ones pyscope stops.
func (p *Process) OtherPIDNamespace() bool { return p.otherPIDNS }

// otherPIDNamespace says whether process pid lives in a PID namespace
// other than pyscope's.
func otherPIDNamespace(pid int) bool { return otherNamespace(pid, "pid") }

// otherNamespace says whether process pid's namespace of a kind ("pid",
// "mnt", "user") is not pyscope's.
func otherNamespace(pid int, kind string) bool {
	theirs, err1 := os.Readlink(procPath(pid, "ns/"+kind))
	ours, err2 := os.Readlink("/proc/self/ns/" + kind)
	return err1 == nil && err2 == nil && theirs != ours
}

// nsTID is thread tid's ID in the process's own PID namespace, read while
// it runs (from NSpid in its status); 0 when that namespace is pyscope's
// or the thread is gone.
func (p *Process) nsTID(tid int) int {
	if !p.otherPIDNS {
		return 0
	}
	b, err := readProcFile(procPath(p.pid, "task/"+strconv.Itoa(tid)+"/status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
			if f := strings.Fields(v); len(f) > 1 {
				n, _ := strconv.Atoi(f[len(f)-1])
				return n
			}
		}
	}
	return 0
}
