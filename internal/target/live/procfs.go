package live

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"pyscope/internal/target"
)

// maxProcFile bounds what we read from a /proc text file (maps of a huge
// process can be a few MiB; anything beyond this is not a sane target).
const maxProcFile = 64 << 20

func procPath(pid int, rest string) string {
	return "/proc/" + strconv.Itoa(pid) + "/" + rest
}

func readProcFile(path string) ([]byte, error) {
	return readProcFileAt(unix.AT_FDCWD, path)
}

// readProcFileAt reads path relative to directory dir (a /proc/PID/task
// descriptor spares the kernel the walk from /proc for each thread).
func readProcFileAt(dir int, path string) ([]byte, error) {
	// Raw syscalls: os.File would register each of the hundreds of /proc
	// files a dump reads with the runtime poller, for nothing.
	fd, err := unix.Openat(dir, path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxProcFile {
				return buf, errors.New("file too large")
			}
			buf = append(buf, make([]byte, len(buf))...)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return buf, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// listTasks returns the TIDs in /proc/PID/task, leader first. The kernel
// lists threads in thread-group order; we only force the leader to the front.
func listTasks(pid int) ([]int, error) {
	f, err := os.Open(procPath(pid, "task"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(names))
	for _, n := range names {
		tid, err := strconv.Atoi(n)
		if err != nil || tid <= 0 {
			continue
		}
		if tid == pid {
			tids = append([]int{tid}, tids...)
		} else {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// statFields returns the fields of a /proc stat line after the comm, so
// index 0 is field 3 (state). The comm may contain spaces and parentheses,
// hence the split at the last ')'.
func statFields(b []byte) ([]string, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return nil, errors.New("malformed stat")
	}
	return f, nil
}

// taskStateComm reads a thread's state and name from its stat file in one
// read (the name there is the same TASK_COMM_LEN text as in comm).
func taskStateComm(pid, tid int) (state, comm string) {
	return taskStateCommAt(unix.AT_FDCWD, procPath(pid, "task/"+strconv.Itoa(tid)+"/stat"))
}

// taskStateCommAt is taskStateComm of the stat file at path relative to
// dir.
func taskStateCommAt(dir int, path string) (state, comm string) {
	b, err := readProcFileAt(dir, path)
	if err != nil {
		return "", ""
	}
	f, err := statFields(b)
	if err != nil {
		return "", ""
	}
	if i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')'); i >= 0 && j > i {
		comm = string(b[i+1 : j])
	}
	return f[0], comm
}

// taskState reads the one-letter kernel state of a thread ("" if gone).
func taskState(pid, tid int) string {
	st, _ := taskStateComm(pid, tid)
	return st
}

// isExiting reports whether a thread is gone or has begun to exit
// (PF_EXITING in stat's flags): its mm and /proc links may already be gone
// while its state still reads R or D.
func isExiting(pid, tid int) bool {
	b, err := readProcFile(procPath(pid, "task/"+strconv.Itoa(tid)+"/stat"))
	if err != nil {
		return true
	}
	f, err := statFields(b)
	if err != nil {
		return false
	}
	flags, err := strconv.ParseUint(f[9-3], 10, 64)
	return err == nil && flags&0x4 != 0
}

// StartTicks returns field 22 of /proc/PID/stat (start time in clock ticks
// since boot), which with the PID identifies a process across PID reuse.
func StartTicks(pid int) (uint64, error) {
	if pid <= 0 {
		return 0, noProcessError(pid)
	}
	b, err := readProcFile(procPath(pid, "stat"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, noProcessError(pid)
		}
		return 0, err
	}
	f, err := statFields(b)
	if err != nil {
		return 0, fmt.Errorf("process %d: %v", pid, err)
	}
	v, err := strconv.ParseUint(f[22-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("process %d: malformed start time in stat: %v", pid, err)
	}
	return v, nil
}

// tracerPid returns TracerPid from /proc/PID/status (0 when untraced or
// unknown).
func tracerPid(pid int) int {
	return statusInt(pid, "TracerPid:")
}

// tgid maps a TID (TracerPid names the tracing thread) to its process.
func tgid(tid int) int {
	if n := statusInt(tid, "Tgid:"); n > 0 {
		return n
	}
	return tid
}

func statusInt(pid int, key string) int {
	n, _ := strconv.Atoi(statusField(pid, key))
	return n
}

// sharedPending returns the process-wide pending signal mask (ShdPnd).
func sharedPending(pid int) uint64 {
	n, _ := strconv.ParseUint(statusField(pid, "ShdPnd:"), 16, 64)
	return n
}

// statusField returns the value of the first line of /proc/PID/status
// that starts with key ("" when unreadable or absent).
func statusField(pid int, key string) string {
	b, err := readProcFile(procPath(pid, "status"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func procComm(pid int) string {
	b, err := readProcFile(procPath(pid, "comm"))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// parseMaps parses /proc/PID/maps. Paths keep the kernel's spelling,
// including a " (deleted)" suffix and pseudo names like "[heap]"; a
// rootPrefix (the target's chroot as we see it) is removed so paths are as
// the target sees them.
func parseMaps(b []byte, rootPrefix string) ([]target.Mapping, error) {
	var out []target.Mapping
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if len(line) == 0 {
			continue
		}
		m, err := target.ParseMapsLine(string(line))
		if err != nil {
			return nil, err
		}
		m.Path = stripRoot(m.Path, rootPrefix)
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out, nil
}

// stripRoot turns a path as we see it into one as the target sees it by
// removing rootPrefix, the target's root directory as we see it.
func stripRoot(path, rootPrefix string) string {
	if rootPrefix != "" && strings.HasPrefix(path, rootPrefix+"/") {
		return path[len(rootPrefix):]
	}
	return path
}

// maxDescendants bounds a process tree walk.
const maxDescendants = 1 << 16

// Descendants lists the live descendants of pid, breadth first: from each
// task's children file where the kernel has them, else by every process's
// parent. A zombie pid (every thread exited) has none: it is gone.
func Descendants(pid int) ([]int, error) {
	if _, err := os.Stat(procPath(pid, "")); err != nil {
		return nil, noProcessError(pid)
	}
	if liveTID(pid) == pid && !isAlive(pid) {
		return nil, zombieError(pid)
	}
	children := childrenFromTasks
	if _, err := os.Stat(procPath(pid, "task/"+strconv.Itoa(pid)+"/children")); err != nil {
		byParent := parentsMap()
		children = func(p int) []int { return byParent[p] }
	}
	var out []int
	seen := map[int]bool{pid: true}
	queue := []int{pid}
	for len(queue) > 0 && len(out) < maxDescendants {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children(p) {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out, nil
}

func childrenFromTasks(pid int) []int {
	tids, _ := listTasks(pid)
	var out []int
	for _, tid := range tids {
		b, err := readProcFile(procPath(pid, "task/"+strconv.Itoa(tid)+"/children"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil && n > 0 {
				out = append(out, n)
			}
		}
	}
	return out
}

// parentsMap maps each process to its children, from every /proc/PID/stat.
func parentsMap() map[int][]int {
	out := map[int][]int{}
	d, err := os.Open("/proc")
	if err != nil {
		return out
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		b, err := readProcFile(procPath(pid, "stat"))
		if err != nil {
			continue
		}
		if f, err := statFields(b); err == nil {
			if ppid, err := strconv.Atoi(f[1]); err == nil {
				out[ppid] = append(out[ppid], pid)
			}
		}
	}
	return out
}

// Activity is what the scheduler says of a thread at one moment: its state
// and how many times it has been switched out so far.
type Activity struct {
	State    byte   // R, S, D, T, t, Z, X
	Switches uint64 // voluntary + involuntary context switches
}

// Asleep reports whether the thread was not running: it can only run
// again after being woken, and once it has run it cannot be back asleep
// without being switched out, which Switches counts.
func (a Activity) Asleep() bool {
	switch a.State {
	case 'S', 'D', 'T', 't':
		return true
	}
	return false
}

// TaskActivity reads a thread's Activity from /proc/PID/task/TID/status.
// Two samples that are both asleep with the same Switches prove the
// thread did not run in between (docs/reliability.md).
func TaskActivity(pid, tid int) (Activity, error) {
	b, err := readProcFile(procPath(pid, "task/"+strconv.Itoa(tid)+"/status"))
	if err != nil {
		return Activity{}, err
	}
	var a Activity
	var seen int
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		val = bytes.TrimSpace(val)
		switch string(key) {
		case "State":
			if len(val) > 0 {
				a.State = val[0]
				seen++
			}
		case "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches":
			n, err := strconv.ParseUint(string(val), 10, 64)
			if err != nil {
				return Activity{}, fmt.Errorf("thread %d of process %d: malformed %s in status", tid, pid, key)
			}
			a.Switches += n
			seen++
		}
	}
	if seen != 3 {
		return Activity{}, fmt.Errorf("thread %d of process %d: status lacks State or context switch counts", tid, pid)
	}
	return a, nil
}

// TaskIDs lists the threads of process pid, main thread first.
func TaskIDs(pid int) ([]int, error) { return listTasks(pid) }

// AllThreadsExited reports whether every thread of pid is a zombie or
// dead: a process killed whose parent has not reaped it yet. False when
// it cannot tell, and for a live process whose main thread exited before
// the others (a zombie leader).
func AllThreadsExited(pid int) bool {
	tids, err := listTasks(pid)
	if err != nil || len(tids) == 0 {
		return false
	}
	for _, tid := range tids {
		a, err := TaskActivity(pid, tid)
		if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ESRCH) { // not gone
			return false
		}
		if err == nil && a.State != 'Z' && a.State != 'X' {
			return false
		}
	}
	return true
}

// ExecImage identifies the program image process pid runs: what an exec
// replaces and a fork keeps. Two readings of one PID (with one start
// time) differ when the process ran another program in between, even the
// same executable: the kernel lays out the new stack, arguments and
// environment afresh (stat's fields 26, 27, 28 and 48 to 51), and comm and
// the executable file follow the new program. It also returns the start
// time (StartTicks) from the same read, which tells the process from a
// later one with its PID. "" and 0 when unreadable; "" alone when the
// process has no address space to tell by.
func ExecImage(pid int) (image string, start uint64) {
	b, err := readProcFile(procPath(pid, "stat"))
	if err != nil {
		return "", 0
	}
	f, err := statFields(b)
	if err != nil || len(f) < 51-2 {
		return "", 0
	}
	start, _ = strconv.ParseUint(f[22-3], 10, 64)
	if f[26-3] == "0" && f[28-3] == "0" {
		// No address space to tell by: exiting (its memory already
		// released), a zombie, or fields the kernel hides from us.
		return "", start
	}
	var sb strings.Builder
	if i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')'); i >= 0 && j > i {
		sb.Write(b[i+1 : j])
	}
	for _, n := range []int{26, 27, 28, 48, 49, 50, 51} {
		sb.WriteByte(' ')
		sb.WriteString(f[n-3])
	}
	var st unix.Stat_t
	if unix.Stat(procPath(pid, "exe"), &st) == nil {
		fmt.Fprintf(&sb, " %d:%d", st.Dev, st.Ino)
	}
	return sb.String(), start
}

// kcmpVM is kcmp(2)'s KCMP_VM: do two processes share one address space.
const kcmpVM = 1

// SharesMemory says whether process pid shares its address space with
// process other, as a child does with its parent between vfork and exec
// (kcmp(2); false when the kernel cannot tell).
func SharesMemory(pid, other int) bool {
	if pid <= 0 || other <= 0 || pid == other {
		return false
	}
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(pid), uintptr(other), kcmpVM, 0, 0, 0)
	return errno == 0 && r == 0
}
