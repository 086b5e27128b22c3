package engine

import (
	"errors"
	"os"
	"runtime"
	"sort"
	"sync"
	"syscall"

	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/target"
	"pyscope/internal/target/live"
)

// Survey is every process of this host that runs CPython and that this
// user may read.
type Survey struct {
	Processes []model.PythonProcess // by PID
	// Unreadable are the processes this user may not read: they may run
	// Python too.
	Unreadable []int
}

// SurveyProcesses lists the processes that run CPython, stopping none and
// never tracing one. Only processes whose mapped files look like CPython
// (an executable named python…, a libpython, or an executable that defines
// the runtime, checked once per file) are read further, and only as far as
// dump reads to find the interpreter: ELF files, and for some versions a
// few words of memory (process_vm_readv, which needs the permission to
// trace but does not stop the process).
func SurveyProcesses() (*Survey, error) {
	pids, err := live.PIDs()
	if err != nil {
		return nil, err
	}
	s := &Survey{}
	var embeds sync.Map // executables checked for a runtime, by inode
	found := make([]*model.PythonProcess, len(pids))
	unreadable := make([]bool, len(pids))
	work := make(chan int)
	var wg sync.WaitGroup
	for range max(2, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				pid := pids[i]
				ok, err := mayRunPython(pid, &embeds)
				unreadable[i] = errors.Is(err, target.ErrPermission)
				if ok {
					found[i] = identify(pid)
				}
			}
		}()
	}
	for i, pid := range pids {
		if pid != os.Getpid() {
			work <- i
		}
	}
	close(work)
	wg.Wait()
	for i, p := range found {
		if p != nil {
			s.Processes = append(s.Processes, *p)
		}
		if unreadable[i] {
			s.Unreadable = append(s.Unreadable, pids[i])
		}
	}
	sort.Slice(s.Processes, func(i, j int) bool { return s.Processes[i].PID < s.Processes[j].PID })
	sort.Ints(s.Unreadable)
	return s, nil
}

// mayRunPython looks at pid's names: the executable's settles most
// processes (a process with 10,000 threads has a memory map of 20,000
// lines), then whether the executable defines a runtime, then the
// libraries it maps.
func mayRunPython(pid int, embeds *sync.Map) (bool, error) {
	exe, err := live.ExecutablePath(pid)
	if err != nil || exe == "" { // refused, gone, or a kernel thread
		return false, err
	}
	if cpython.NamedLikePython(exe, nil) || embedsPython(pid, embeds) {
		return true, nil
	}
	files, err := live.MappedFiles(pid)
	return err == nil && cpython.NamedLikePython("", files), err
}

type fileKey struct{ dev, ino uint64 }

// embedsPython checks pid's executable for a runtime of its own, once per
// file.
func embedsPython(pid int, seen *sync.Map) bool {
	f, err := live.OpenExecutable(pid)
	if err != nil {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		f.Close()
		return false
	}
	k := fileKey{uint64(sys.Dev), sys.Ino}
	if v, ok := seen.Load(k); ok {
		f.Close()
		return v.(bool)
	}
	v := cpython.EmbedsPython(f, f.Name())
	seen.Store(k, v)
	return v
}

// identify reads what ps shows of pid: nil when it runs no CPython after
// all, or is gone.
func identify(pid int) *model.PythonProcess {
	id, err := live.Identify(pid)
	if err != nil {
		return nil
	}
	p := &model.PythonProcess{PID: pid, PPID: id.PPID, UID: id.UID, User: id.User,
		Threads: id.Threads, Cmdline: id.Cmdline}
	if c := id.Container; c.Contained() {
		p.Container = &model.Container{Runtime: c.Runtime, ID: c.ID, PIDNamespace: c.PIDNamespace,
			MountNamespace: c.MountNamespace, UserNamespace: c.UserNamespace, NSPID: id.NSPID, Cgroup: c.Cgroup}
	}
	probe, err := live.Open(pid, live.Options{NoBlock: true, NoThreads: true, Cache: true})
	if err != nil {
		if errors.Is(err, target.ErrNoProcess) || errors.Is(err, target.ErrExited) {
			return nil
		}
		p.Error = err.Error()
		return p
	}
	defer probe.Close()
	p.Executable = probe.Executable()
	in, err := cpython.Discover(probe)
	var uv *cpython.UnsupportedVersionError
	switch {
	case errors.As(err, &uv):
		p.Version, p.Error = uv.Version, err.Error()
		return p
	case errors.Is(err, cpython.ErrNotPython):
		return nil
	case err != nil:
		if errors.Is(describeProcess(pid, err), target.ErrExited) {
			return nil
		}
		p.Error = err.Error()
		return p
	}
	p.Version, p.Library = in.Version, in.Library
	p.Build = &model.Build{Shared: in.Library != nil, Debug: in.Debug, FreeThreaded: in.FreeThreaded}
	return p
}
