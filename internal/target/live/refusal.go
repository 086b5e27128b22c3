package live

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// yamaScopePath is a variable so the message can be tested on kernels
// without Yama.
var yamaScopePath = "/proc/sys/kernel/yama/ptrace_scope"

// capSysPtrace is CAP_SYS_PTRACE's bit.
const capSysPtrace = 19

// access is what decides whether the kernel lets pyscope trace a process
// (ptrace_may_access, Yama, commoncap), as far as /proc shows it.
type access struct {
	pid          string
	euid         int    // pyscope's effective user
	targetUIDs   []int  // the target's real, effective, saved and fs uid
	ourCaps      uint64 // pyscope's effective capabilities
	targetCaps   uint64 // the target's permitted capabilities, when targetCapsOK
	targetCapsOK bool
	yama         int  // kernel.yama.ptrace_scope; -1 without Yama
	descendant   bool // the target descends from pyscope (Yama level 1 allows that)
	ownUserNS    bool // pyscope runs in a user namespace other than the initial one
	seccomp      bool // a seccomp filter applies to pyscope
	lsm          string
	kernelThread bool
}

// readAccess gathers the facts about pyscope and process pid.
func readAccess(pid int) access {
	a := access{pid: strconv.Itoa(pid), euid: os.Geteuid(), yama: -1}
	if b, err := os.ReadFile(yamaScopePath); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			a.yama = v
		}
	}
	a.ourCaps, _ = strconv.ParseUint(statusField(os.Getpid(), "CapEff:"), 16, 64)
	if v := statusField(pid, "CapPrm:"); v != "" {
		a.targetCaps, _ = strconv.ParseUint(v, 16, 64)
		a.targetCapsOK = true
	}
	for _, f := range strings.Fields(statusField(pid, "Uid:")) {
		if n, err := strconv.Atoi(f); err == nil {
			a.targetUIDs = append(a.targetUIDs, n)
		}
	}
	a.seccomp = statusField(os.Getpid(), "Seccomp:") == "2"
	if b, err := readProcFile("/proc/self/uid_map"); err == nil {
		f := strings.Fields(string(b))
		a.ownUserNS = !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
	}
	if b, err := readProcFile("/proc/self/attr/current"); err == nil {
		if s := strings.TrimSpace(strings.TrimRight(string(b), "\x00")); s != "" && s != "unconfined" && s != "kernel" {
			a.lsm = s
		}
	}
	a.kernelThread = isKernelThread(pid)
	for p, n := pid, 0; p > 1 && n < 4096; n++ {
		if p == os.Getpid() {
			a.descendant = true
			break
		}
		p = statusInt(p, "PPid:")
	}
	return a
}

// isKernelThread reports PF_KTHREAD in the task's flags.
func isKernelThread(pid int) bool {
	b, err := readProcFile(procPath(pid, "stat"))
	if err != nil {
		return false
	}
	f, err := statFields(b)
	if err != nil {
		return false
	}
	flags, err := strconv.ParseUint(f[9-3], 10, 64)
	return err == nil && flags&0x00200000 != 0
}

// cause says what refused pyscope access to the process, and the remedy.
// It never tells root to run as root: when the facts do not explain the
// refusal, it says so.
func (a access) cause() string {
	hasPtrace := a.ourCaps&(1<<capSysPtrace) != 0
	if a.kernelThread {
		return "it is a kernel thread, which has no user memory and runs no Python"
	}
	if a.yama == 3 {
		return "kernel.yama.ptrace_scope is 3, which forbids ptrace to everyone, root included, until the next reboot; take a core of it instead (e.g. from the kernel, with ulimit -c)"
	}
	if !hasPtrace {
		lacks := "pyscope lacks CAP_SYS_PTRACE"
		remedy := "run pyscope as root or with CAP_SYS_PTRACE (e.g. sudo pyscope ...)"
		if a.euid == 0 {
			lacks = "pyscope runs as root but without CAP_SYS_PTRACE (containers drop it: docker run --cap-add SYS_PTRACE)"
			remedy = "give pyscope CAP_SYS_PTRACE"
		}
		if a.euid != 0 {
			for _, uid := range a.targetUIDs {
				if uid != a.euid {
					return fmt.Sprintf("process %s runs as user %s and pyscope as user %s: run pyscope as that user, or as root or with CAP_SYS_PTRACE (e.g. sudo pyscope ...)",
						a.pid, userName(uid), userName(a.euid))
				}
			}
		}
		switch {
		case a.yama == 2:
			return lacks + ", and kernel.yama.ptrace_scope is 2, which lets only CAP_SYS_PTRACE trace: " + remedy
		case a.yama == 1 && !a.descendant:
			return lacks + ", and kernel.yama.ptrace_scope is 1, which lets a process without it trace only its own descendants: " + remedy + ", or set sysctl kernel.yama.ptrace_scope=0"
		case a.targetCapsOK && a.targetCaps&^a.ourCaps != 0:
			return fmt.Sprintf("%s, and process %s holds capabilities pyscope lacks (%s), which only CAP_SYS_PTRACE overrides: %s",
				lacks, a.pid, capNames(a.targetCaps&^a.ourCaps), remedy)
		}
		return lacks + ", and the process may have made itself non-dumpable (prctl PR_SET_DUMPABLE, or a set-user-ID program): " + remedy
	}
	// pyscope holds CAP_SYS_PTRACE: only something above the usual
	// checks can refuse.
	var notes []string
	if a.ownUserNS {
		notes = append(notes, "pyscope runs in a user namespace (a container), and its CAP_SYS_PTRACE does not reach a process outside it: run pyscope in the process's own namespace (e.g. nsenter, or inside its container)")
	}
	if a.seccomp {
		notes = append(notes, "a seccomp filter applies to pyscope (a container's default profile may forbid ptrace and process_vm_readv)")
	}
	if a.lsm != "" {
		notes = append(notes, fmt.Sprintf("pyscope is confined by the security module label %q, which may forbid ptrace", a.lsm))
	}
	if len(notes) > 0 {
		return strings.Join(notes, "; ")
	}
	msg := "the kernel refused although pyscope holds CAP_SYS_PTRACE, no Yama restriction applies and no tracer holds the process: the cause is unknown (a security module, or a kernel that protects this process)"
	if a.targetCapsOK && a.targetCaps&^a.ourCaps != 0 {
		msg += fmt.Sprintf("; process %s holds capabilities pyscope lacks (%s)", a.pid, capNames(a.targetCaps&^a.ourCaps))
	}
	return msg
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("%d (%s)", uid, u.Username)
	}
	return strconv.Itoa(uid)
}

// capabilityNames are linux/capability.h's, by bit.
var capabilityNames = []string{
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
	"setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
	"ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
	"lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
	"wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
}

func capNames(mask uint64) string {
	var out []string
	for bit := 0; bit < 64; bit++ {
		if mask&(1<<bit) == 0 {
			continue
		}
		if bit < len(capabilityNames) {
			out = append(out, "CAP_"+strings.ToUpper(capabilityNames[bit]))
		} else {
			out = append(out, fmt.Sprintf("capability %d", bit))
		}
	}
	return strings.Join(out, ", ")
}
