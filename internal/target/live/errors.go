package live

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"pyscope/internal/target"
)

func noProcessError(pid int) error {
	return fmt.Errorf("process %d: %w (check the PID; is the process still running?)", pid, target.ErrNoProcess)
}

func zombieError(pid int) error {
	return fmt.Errorf("process %d: %w: it has exited (a zombie its parent has not reaped yet)", pid, target.ErrNoProcess)
}

func exitedError(pid int) error {
	return fmt.Errorf("process %d: %w during the dump; run pyscope again if it restarted", pid, target.ErrExited)
}

// permissionError says what refused access to the process, as far as
// pyscope can tell.
func permissionError(pid int, what string) error {
	return fmt.Errorf("cannot %s process %d (%s): %w: %s", what, pid, procComm(pid), target.ErrPermission, readAccess(pid).cause())
}

func tracedError(pid, tracer int) error {
	return fmt.Errorf("cannot attach to process %d: %w by process %d (%s); detach that debugger first, or use pyscope dump --no-block",
		pid, target.ErrTraced, tracer, procComm(tracer))
}

// attachError maps a failed PTRACE_SEIZE (or /proc access) to a sentinel.
func attachError(pid int, err error) error {
	switch {
	case errors.Is(err, unix.ESRCH), errors.Is(err, os.ErrNotExist):
		if _, serr := os.Stat(procPath(pid, "")); serr != nil {
			return noProcessError(pid)
		}
		return exitedError(pid)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		if t := tracerPid(pid); t != 0 && tgid(t) != os.Getpid() {
			return tracedError(pid, tgid(t))
		}
		return permissionError(pid, "attach to")
	}
	return fmt.Errorf("cannot attach to process %d: %v", pid, err)
}
