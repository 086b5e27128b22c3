package live

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// maxStatFiles bounds the stat files a handle keeps open (one per thread);
// threads beyond it are read with open, read and close as before.
const maxStatFiles = 4096

// maxTasks bounds a listing of /proc/PID/task (the kernel's own limit on
// threads is far lower in practice).
const maxTasks = 1 << 22

// taskFiles keeps /proc/PID/task and each thread's stat and schedstat
// files open, so that a handle stopped again and again (a profiler's
// captures) lists threads and reads their states and CPU times with one
// system call each instead of three.
type taskFiles struct {
	pid int

	mu     sync.Mutex
	dir    int // /proc/PID/task, -1 until opened
	stats  map[int]int
	scheds map[int]int // schedstat files, as stats
	// syscalls: syscall files, as stats (the lock analysis reads each
	// spared thread's twice per capture).
	syscalls map[int]int
	buf      []byte
	// schedBuf holds a schedstat line (three numbers) while it is parsed.
	schedBuf [96]byte
	alive    int // the main thread's schedstat, -1 until opened
	// links is the task directory's link count when last listed, and
	// linksCount says that it was found to be 2 plus the threads listed.
	links      uint64
	linksCount bool
	// over counts reads past maxStatFiles, which now and then close the
	// files of threads gone (a handle that never lists threads, as a
	// profiler's probe, has no retain to do it).
	over int
	// closed: the handle is closed; nothing is opened to be kept any more.
	closed bool
}

func newTaskFiles(pid int) *taskFiles {
	return &taskFiles{pid: pid, dir: -1, stats: map[int]int{}, scheds: map[int]int{}, syscalls: map[int]int{}, alive: -1}
}

// live reports whether the process whose main thread's schedstat was
// first opened here still runs: once it is gone the file reads ESRCH,
// whoever has its PID now. schedstat is the cheapest file to produce.
func (f *taskFiles) live() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.alive < 0 {
		fd, err := unix.Open(procPath(f.pid, "task/"+strconv.Itoa(f.pid)+"/schedstat"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return false
		}
		f.alive = fd
	}
	var buf [128]byte
	for {
		n, err := unix.Pread(f.alive, buf[:], 0)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

// list returns the TIDs in /proc/PID/task, leader first, as listTasks.
func (f *taskFiles) list() ([]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dir < 0 {
		fd, err := unix.Open(procPath(f.pid, "task"), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		f.dir = fd
	} else if _, err := unix.Seek(f.dir, 0, 0); err != nil {
		return nil, err
	}
	// The link count before the listing: a thread that comes or goes
	// after it changes it, so the next threadCount sees the change.
	links, linked := f.linkCount()
	if f.buf == nil {
		f.buf = make([]byte, 16<<10)
	}
	var tids []int
	names := make([]string, 0, 64)
	for {
		n, err := unix.Getdents(f.dir, f.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		names = names[:0]
		_, _, names = unix.ParseDirent(f.buf[:n], -1, names)
		for _, name := range names {
			tid, err := strconv.Atoi(name)
			if err != nil || tid <= 0 {
				continue
			}
			if tid == f.pid {
				tids = append([]int{tid}, tids...)
			} else {
				tids = append(tids, tid)
			}
		}
		if len(tids) > maxTasks {
			break
		}
	}
	if len(tids) == 0 {
		// An exited process lists no task: say so as listTasks would.
		return nil, unix.ESRCH
	}
	if linked {
		after, ok := f.linkCount()
		f.links = links
		f.linksCount = f.linksCount || ok && after == links && links == 2+uint64(len(tids))
	}
	return tids, nil
}

// linkCount is the task directory's link count: proc adds the process's
// thread count to a directory's 2 (proc_task_getattr), so one fstat
// counts the threads without the formatting of a stat line.
func (f *taskFiles) linkCount() (uint64, bool) {
	var st unix.Stat_t
	if f.dir < 0 || unix.Fstat(f.dir, &st) != nil {
		return 0, false
	}
	return uint64(st.Nlink), true
}

// countsThreads says whether the task directory's link count was seen to
// count the threads (sameThreadCount can tell).
func (f *taskFiles) countsThreads() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.linksCount
}

// sameThreadCount says whether the process has as many threads as at the
// last listing; known is false where the task directory's link count was
// not seen to count threads (the caller counts them another way).
func (f *taskFiles) sameThreadCount() (same, known bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.linksCount {
		return false, false
	}
	n, ok := f.linkCount()
	return n == f.links, ok
}

// stateComm reads a thread's state and name as taskStateComm does, from
// its stat file kept open.
func (f *taskFiles) stateComm(tid int) (state, comm string) {
	var buf [1024]byte
	b, err := f.stat(tid, buf[:])
	if err != nil {
		return "", ""
	}
	return parseStateComm(b)
}

// stat reads a thread's stat line into buf from its kept file; the error
// wraps ESRCH when the thread is gone.
func (f *taskFiles) stat(tid int, buf []byte) ([]byte, error) {
	return f.read(f.stats, "stat", tid, buf)
}

// runtime is the time a thread has been on a CPU, in nanoseconds: the
// first field of its schedstat (sum_exec_runtime), read from its kept file.
func (f *taskFiles) runtime(tid int) (int64, error) {
	ss, err := f.sched(tid)
	return ss.runtime, err
}

// schedStat is a thread's schedstat line, three cumulative counts: its
// time on a CPU (ns, updated when it leaves one and at each scheduler
// tick while it runs), its time waiting for one (ns), and its timeslices
// (switches onto a CPU; 0 on kernels that do not count them).
type schedStat struct {
	runtime, delay, slices int64
}

// sched reads a thread's schedstat from its kept file.
func (f *taskFiles) sched(tid int) (schedStat, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := f.readLocked(f.scheds, "schedstat", tid, f.schedBuf[:])
	if err != nil {
		return schedStat{}, err
	}
	return parseSchedstat(b)
}

// parseSchedstat reads a schedstat line: three decimal numbers.
func parseSchedstat(b []byte) (schedStat, error) {
	var v [3]int64
	rest := b
	for k := range v {
		i := 0
		for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9' && i < 18; i++ {
			v[k] = v[k]*10 + int64(rest[i]-'0')
		}
		if i == 0 || i < len(rest) && rest[i] != ' ' && rest[i] != '\n' {
			return schedStat{}, fmt.Errorf("malformed schedstat %q", b)
		}
		if i < len(rest) {
			i++
		}
		rest = rest[i:]
	}
	return schedStat{runtime: v[0], delay: v[1], slices: v[2]}, nil
}

// read reads a thread's file name into buf from files, where it is kept
// open; the error wraps ESRCH when the thread is gone.
func (f *taskFiles) read(files map[int]int, name string, tid int, buf []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readLocked(files, name, tid, buf)
}

// readLocked is read with f.mu held.
func (f *taskFiles) readLocked(files map[int]int, name string, tid int, buf []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		fd, ok := files[tid]
		if !ok {
			path := procPath(f.pid, "task/"+strconv.Itoa(tid)+"/"+name)
			if f.closed {
				return readProcFile(path) // nothing is kept by a closed handle
			}
			if len(files) >= maxStatFiles && f.over%256 == 0 {
				sweep(files)
			}
			if len(files) >= maxStatFiles {
				f.over++
				b, err := readProcFile(path)
				return b, err
			}
			dir, rel := unix.AT_FDCWD, path
			if f.dir >= 0 {
				// Relative to the task directory: no walk from /proc.
				dir, rel = f.dir, strconv.Itoa(tid)+"/"+name
			}
			var err error
			fd, err = unix.Openat(dir, rel, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, err
			}
			files[tid] = fd
		}
		n, err := unix.Pread(fd, buf, 0)
		if err == nil && n > 0 {
			return buf[:n], nil
		}
		// The thread is gone; its TID may now be another thread's, which
		// a second try opens.
		unix.Close(fd)
		delete(files, tid)
		if err == nil {
			err = unix.ESRCH
		}
		if attempt > 0 || !errors.Is(err, unix.ESRCH) {
			return nil, err
		}
	}
}

// sweep closes the files of threads gone: they read nothing.
func sweep(files map[int]int) {
	var buf [64]byte
	for tid, fd := range files {
		if n, err := unix.Pread(fd, buf[:], 0); err != nil && err != unix.EINTR || err == nil && n == 0 {
			unix.Close(fd)
			delete(files, tid)
		}
	}
}

// syscallLine reads a thread's syscall file into buf (the line is under
// 200 bytes), from its file kept open as the stat files are. The lock
// analysis reads it for every thread a stop left running, and again at
// the end: the second read costs the kernel no open and no walk.
func (f *taskFiles) syscallLine(tid int, buf []byte) ([]byte, error) {
	f.mu.Lock()
	if f.dir < 0 && !f.closed {
		// A handle that never listed its threads (the engine's probe).
		if fd, err := unix.Open(procPath(f.pid, "task"), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			f.dir = fd
		}
	}
	f.mu.Unlock()
	b, err := f.read(f.syscalls, "syscall", tid, buf)
	if err == nil && len(b) >= len(buf) {
		return nil, errors.New("syscall file too long")
	}
	return b, err
}

// statField is field k of a stat line, numbered as proc(5) does (3 is the
// state); nil when the line is shorter.
func statField(b []byte, k int) []byte {
	j := bytes.LastIndexByte(b, ')')
	if j < 0 || k < 3 {
		return nil
	}
	rest := b[j+1:]
	for i := 3; ; i++ {
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
		end := bytes.IndexAny(rest, " \n")
		if end < 0 {
			end = len(rest)
		}
		if end == 0 {
			return nil
		}
		if i == k {
			return rest[:end]
		}
		rest = rest[end:]
	}
}

// parseStateCommLike is parseStateComm that returns prev, without
// allocating, when the name is prev.
func parseStateCommLike(b []byte, prev string) (state, comm string) {
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j <= i {
		return "", ""
	}
	comm = prev
	if string(b[i+1:j]) != prev {
		comm = string(b[i+1 : j])
	}
	return stateAfter(b[j+1:]), comm
}

// parseStateComm takes the state and name from a stat line.
func parseStateComm(b []byte) (state, comm string) {
	return parseStateCommLike(b, "")
}

// stateAfter is the state field that follows the name in a stat line.
func stateAfter(rest []byte) string {
	for len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	k := bytes.IndexByte(rest, ' ')
	if k <= 0 {
		return ""
	}
	return string(rest[:k])
}

// retain closes the files of threads not in tids.
func (f *taskFiles) retain(tids []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	live := make(map[int]bool, len(tids))
	for _, t := range tids {
		live[t] = true
	}
	for _, files := range []map[int]int{f.stats, f.scheds, f.syscalls} {
		for tid, fd := range files {
			if !live[tid] {
				unix.Close(fd)
				delete(files, tid)
			}
		}
	}
}

func (f *taskFiles) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.dir >= 0 {
		unix.Close(f.dir)
		f.dir = -1
	}
	if f.alive >= 0 {
		unix.Close(f.alive)
		f.alive = -1
	}
	for _, files := range []map[int]int{f.stats, f.scheds, f.syscalls} {
		for _, fd := range files {
			unix.Close(fd)
		}
		clear(files)
	}
}
