package sampler

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"testing"
	"time"

	"pyscope/internal/profile"
	"pyscope/internal/testenv"
)

// startThreads runs bench/targets/threads.py: n threads parked depth
// frames deep, and with busy one more that spins.
func startThreads(b *testing.B, python, n, depth string, busy bool) int {
	b.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	ready := filepath.Join(b.TempDir(), "ready")
	args := []string{filepath.Join(root, "bench", "targets", "threads.py"), n, depth, ready}
	if busy {
		args = append(args, "busy")
	}
	cmd := exec.Command(python, args...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			return cmd.Process.Pid
		}
	}
	b.Fatal("the target never got ready")
	return 0
}

// BenchmarkTick is the cost of one sample of every thread, as record pays
// it: capture, resolve, and aggregation into a profile. cpu-µs/op is
// pyscope's own CPU time per sample. BENCH_TARGETS=3x5=PID,... samples
// running threads.py processes (bench/profiler.sh) instead of starting
// them, BENCH_PYTHON picks the interpreter otherwise (3.14 by default).
// 3x5busy has a thread that spins: a sample reads the process again,
// where one of a process that did not run since the last reads nothing.
func BenchmarkTick(b *testing.B) {
	given := map[string]int{}
	for _, kv := range strings.Split(os.Getenv("BENCH_TARGETS"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			given[k], _ = strconv.Atoi(v)
		}
	}
	python := os.Getenv("BENCH_PYTHON")
	if python == "" && len(given) == 0 {
		ins := testenv.Interpreters(b)
		python = ins[len(ins)-3].Path // 3.14
	}
	for _, shape := range [][3]string{{"3", "5"}, {"3", "5", "busy"}, {"4", "50"}, {"100", "50"}} {
		key := shape[0] + "x" + shape[1] + shape[2]
		pid, ok := given[key]
		if len(given) > 0 && !ok {
			continue
		}
		if !ok {
			pid = startThreads(b, python, shape[0], shape[1], shape[2] == "busy")
		}
		for _, nonblocking := range []bool{false, true} {
			name := key
			if nonblocking {
				name += "/nonblocking"
			} else {
				name += "/blocking"
			}
			b.Run(name, func(b *testing.B) {
				s, err := New(pid, Options{NonBlocking: nonblocking})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				p := profile.New(profile.Options{Idle: true})
				s.tick(time.Now(), p)
				cpu0 := cpuTime()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					s.tick(time.Now(), p)
				}
				b.StopTimer()
				b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/1000, "cpu-µs/op")
				if st := p.Stats(); len(st.Failed) > 0 && !nonblocking {
					b.Errorf("failed samples: %v", st.Failed)
				}
			})
		}
	}
}
