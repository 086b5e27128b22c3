package live

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"pyscope/internal/target"
)

var (
	_ target.VMFlagsReader       = (*Process)(nil)
	_ target.VMFlagsReader       = (*Snapshot)(nil)
	_ target.PrivateMemoryReader = (*Process)(nil)
)

// VMFlags reads /proc/PID/smaps: every mapping's VmFlags, by start.
func (p *Process) VMFlags() (map[uint64]string, error) {
	m, err := vmFlags(p.ioPid)
	if err != nil {
		return m, p.procError(err)
	}
	return m, nil
}

// VMFlags of the snapshot.
func (s *Snapshot) VMFlags() (map[uint64]string, error) { return vmFlags(s.pid) }

func vmFlags(pid int) (map[uint64]string, error) {
	out := map[uint64]string{}
	b, err := readProcFile(procPath(pid, "smaps"))
	if err != nil {
		return out, err
	}
	var cur uint64
	have := false
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '-'); i > 0 && !strings.Contains(line[:i], ":") {
			if v, err := strconv.ParseUint(line[:i], 16, 64); err == nil {
				cur, have = v, true
				continue
			}
		}
		if v, ok := strings.CutPrefix(line, "VmFlags:"); ok && have {
			out[cur] = strings.TrimSpace(v)
		}
	}
	return out, nil
}

// PrivateMemory is RssAnon + VmSwap of /proc/PID/status, and the room left
// below the memory limits of the process's cgroup (v2) and its ancestors.
func (p *Process) PrivateMemory() (private, room uint64, limited bool, err error) {
	b, err := readProcFile(procPath(p.ioPid, "status"))
	if err != nil {
		return 0, 0, false, p.procError(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "RssAnon:" || f[0] == "VmSwap:") {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			private += v << 10
		}
	}
	room, limited = CgroupRoom(p.ioPid)
	return private, room, limited, nil
}

// CgroupRoom is the memory left below the cgroup v2 limits (memory.max
// minus memory.current) of pid's cgroup and its ancestors; false when
// there is no limit.
func CgroupRoom(pid int) (uint64, bool) {
	b, err := readProcFile(procPath(pid, "cgroup"))
	if err != nil {
		return 0, false
	}
	var rel string
	for _, line := range strings.Split(string(b), "\n") {
		if r, ok := strings.CutPrefix(line, "0::"); ok {
			rel = r
		}
	}
	if rel == "" {
		return 0, false
	}
	const root = "/sys/fs/cgroup"
	room, limited := uint64(0), false
	for dir, i := filepath.Join(root, rel), 0; i < 64 && strings.HasPrefix(dir, root); dir, i = filepath.Dir(dir), i+1 {
		maxB, err1 := readProcFile(filepath.Join(dir, "memory.max"))
		curB, err2 := readProcFile(filepath.Join(dir, "memory.current"))
		if err1 == nil && err2 == nil {
			m, err1 := strconv.ParseUint(strings.TrimSpace(string(maxB)), 10, 64)
			c, err2 := strconv.ParseUint(strings.TrimSpace(string(curB)), 10, 64)
			if err1 == nil && err2 == nil {
				r := uint64(0)
				if m > c {
					r = m - c
				}
				if !limited || r < room {
					room, limited = r, true
				}
			}
		}
		if dir == root {
			break
		}
	}
	return room, limited
}

// AvailableMemory is what pyscope itself may allocate: MemAvailable, or
// the room below its own cgroup's limits if smaller; and MemTotal.
func AvailableMemory() (avail, total uint64, err error) {
	b, err := readProcFile("/proc/meminfo")
	if err != nil {
		return 0, 0, err
	}
	have := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "MemAvailable:":
			avail, have = v<<10, true
		case "MemTotal:":
			total = v << 10
		}
	}
	if !have {
		return 0, 0, errors.New("no MemAvailable in /proc/meminfo")
	}
	if room, ok := CgroupRoom(os.Getpid()); ok && room < avail {
		avail = room
	}
	return avail, total, nil
}
