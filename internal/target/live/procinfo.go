package live

import (
	"strconv"
	"strings"

	"pyscope/internal/target"
)

var (
	_ target.ProcessInfoReader = (*Process)(nil)
	_ target.AnonymousReader   = (*Process)(nil)
)

// ProcessInfo reads the process's state, identity and auxiliary vector
// from /proc/PID/{stat,status,comm,cmdline,auxv}; what cannot be read is
// left zero (Auxv nil).
func (p *Process) ProcessInfo() (target.ProcessInfo, error) {
	pi := target.ProcessInfo{State: 'R'}
	if b, err := readProcFile(procPath(p.pid, "stat")); err == nil {
		if f, err := statFields(b); err == nil {
			at := func(k int) int {
				v, _ := strconv.Atoi(f[k-3])
				return v
			}
			if len(f[0]) > 0 {
				pi.State = f[0][0]
			}
			pi.PPID, pi.PGRP, pi.SID = at(4), at(5), at(6)
			pi.Nice = at(19)
			pi.Flags, _ = strconv.ParseUint(f[9-3], 10, 64)
		}
	}
	uid, _ := strconv.ParseUint(firstField(statusField(p.pid, "Uid:")), 10, 32)
	gid, _ := strconv.ParseUint(firstField(statusField(p.pid, "Gid:")), 10, 32)
	pi.UID, pi.GID = uint32(uid), uint32(gid)
	if b, err := readProcFile(procPath(p.pid, "comm")); err == nil {
		pi.Comm = strings.TrimSuffix(string(b), "\n")
	}
	if b, err := readProcFile(procPath(p.pid, "cmdline")); err == nil {
		pi.Cmdline = strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
	}
	b, err := readProcFile(procPath(p.ioPid, "auxv"))
	if err != nil || len(b) == 0 {
		return pi, p.procError(err)
	}
	pi.Auxv = b
	return pi, nil
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// AnonymousMappings reads /proc/PID/smaps: per mapping start, whether the
// mapping holds anonymous (copy-on-write) pages.
func (p *Process) AnonymousMappings() (map[uint64]bool, error) {
	out := map[uint64]bool{}
	b, err := readProcFile(procPath(p.ioPid, "smaps"))
	if err != nil {
		return out, p.procError(err)
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
		if have && strings.HasPrefix(line, "Anonymous:") {
			f := strings.Fields(line)
			out[cur] = len(f) >= 2 && f[1] != "0"
		}
	}
	return out, nil
}

// Root is the process's root directory as pyscope sees it (a container's
// files are under it).
func (p *Process) Root() string { return procPath(p.ioPid, "root") }
