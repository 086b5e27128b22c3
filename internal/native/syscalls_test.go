package native

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/target"
	"pyscope/internal/testenv"
)

// kernelNumbers reads the `#define __NR_name N` lines of a kernel UAPI
// header nested in at most maxDepth #if blocks: asm-generic/unistd.h keeps
// the variants of other architectures under conditions.
func kernelNumbers(t *testing.T, path string, maxDepth int) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	depth := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		switch {
		case strings.HasPrefix(fs[0], "#if"):
			depth++
		case fs[0] == "#endif":
			depth--
		case fs[0] == "#define" && len(fs) == 3 && depth <= maxDepth:
			name, ok := strings.CutPrefix(fs[1], "__NR_")
			nr, err := strconv.Atoi(fs[2])
			if ok && err == nil && name != "syscalls" { // __NR_syscalls is the count
				out[name] = nr
			}
		}
	}
	if len(out) < 200 {
		t.Fatalf("%s: only %d system calls read", path, len(out))
	}
	return out
}

// The table agrees with this machine's kernel headers, an independent
// source: x86-64's own table, and the generic one arm64 uses.
func TestSyscallNamesMatchKernelHeaders(t *testing.T) {
	testenv.NeedPackages(t, "linux-libc-dev")
	for _, c := range []struct {
		arch     target.Arch
		header   string
		maxDepth int
	}{
		{target.AMD64, "/usr/include/x86_64-linux-gnu/asm/unistd_64.h", 1}, // inside its include guard
		{target.ARM64, "/usr/include/asm-generic/unistd.h", 0},
	} {
		for name, nr := range kernelNumbers(t, c.header, c.maxDepth) {
			if got := SyscallName(c.arch, nr); got != name {
				t.Errorf("%v: system call %d is %q, the kernel header says %q", c.header, nr, got, name)
			}
		}
	}
	if got := SyscallName(target.AMD64, 1<<20); got != "syscall_1048576" {
		t.Errorf("unknown call named %q", got)
	}
}
