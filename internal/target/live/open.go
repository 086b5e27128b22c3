package live

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// useOpenat2 is cleared in tests to exercise the fallback resolver.
var useOpenat2 = true

const deletedSuffix = " (deleted)"

// Open opens a file as the target sees it. Paths are resolved inside
// /proc/PID/root, so symlinks (absolute or "..") cannot escape the target's
// root. A mapped file shown as "... (deleted)" is opened through
// /proc/PID/map_files, which still reaches the unlinked inode.
func (p *Process) Open(path string) (*os.File, error) {
	if strings.HasSuffix(path, deletedSuffix) {
		for _, m := range p.maps {
			if m.Path == path {
				name := procPath(p.ioPid, fmt.Sprintf("map_files/%x-%x", m.Start, m.End))
				if f, err := os.Open(name); err == nil {
					return f, nil
				}
				break
			}
		}
		if path == p.exe {
			if f, err := os.Open(procPath(p.ioPid, "exe")); err == nil {
				return f, nil
			}
		}
	}
	root, err := unix.Open(procPath(p.ioPid, "root"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: p.procError(err)}
	}
	defer unix.Close(root)
	fd, err := openInRoot(root, path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

func openInRoot(root int, path string) (int, error) {
	if useOpenat2 {
		how := unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		}
		for {
			fd, err := unix.Openat2(root, path, &how)
			if err == unix.EINTR || err == unix.EAGAIN {
				continue
			}
			// ENOSYS: kernel < 5.6; EPERM: seccomp filters it.
			if err != unix.ENOSYS && err != unix.EPERM {
				return fd, err
			}
			break
		}
	}
	rel, err := resolveInRoot(root, path)
	if err != nil {
		return -1, err
	}
	return unix.Openat(root, rel, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
}

// resolveInRoot resolves path against root by hand, following symlinks as
// if root were "/" ("/" and ".." never climb above it). It returns a path
// relative to root with no symlink left in it ("." for root itself).
func resolveInRoot(root int, path string) (string, error) {
	const maxLinks = 40
	var done []string
	todo := strings.Split(path, "/")
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := strings.Join(append(done, c), "/")
		var st unix.Stat_t
		if err := unix.Fstatat(root, cur, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return "", err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			done = append(done, c)
			continue
		}
		if links++; links > maxLinks {
			return "", unix.ELOOP
		}
		buf := make([]byte, 4096)
		n, err := unix.Readlinkat(root, cur, buf)
		if err != nil {
			return "", err
		}
		target := string(buf[:n])
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return strings.Join(done, "/"), nil
}
