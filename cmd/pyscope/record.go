package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"pyscope/internal/profile"
	"pyscope/internal/sampler"
)

// sampleFlags are the options record and top share.
type sampleFlags struct {
	rate         float64
	native       bool
	idle         bool
	gil          bool
	nonblocking  bool
	subprocesses bool
	symbols      symbolFlags
}

func (f *sampleFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.Float64VarP(&f.rate, "rate", "r", 100, "samples per second")
	fl.BoolVar(&f.native, "native", false, "merge native (C) frames into the Python stacks")
	fl.BoolVarP(&f.idle, "idle", "i", false, "include threads that are not running (the kernel has them asleep)")
	fl.BoolVarP(&f.gil, "gil", "g", false, "keep only samples of threads holding the GIL")
	fl.BoolVar(&f.nonblocking, "nonblocking", false, "never stop the process (stacks read while threads move; those that cannot be read whole are counted as failed)")
	fl.BoolVarP(&f.subprocesses, "subprocesses", "s", false, "sample the process's descendants too")
	f.symbols.register(cmd)
}

func (f *sampleFlags) options() sampler.Options {
	return sampler.Options{Rate: f.rate, Native: f.native, NonBlocking: f.nonblocking,
		Subprocesses: f.subprocesses, Symbols: f.symbols.options(), Idle: f.idle}
}

type recordFlags struct {
	sampleFlags
	duration   durationValue
	output     string
	format     string
	threads    bool
	byFunction bool
	weight     string
}

func newRecordCmd() *cobra.Command {
	var f recordFlags
	cmd := &cobra.Command{
		Use:   "record [flags] PID | record [flags] -- COMMAND [ARG...]",
		Short: "Sample a process's Python stacks and write a profile (flame graph, speedscope, pprof...)",
		Long: `record samples the Python stack of every thread of a running process, or of
a command it starts, at --rate samples per second, and writes a profile when
the duration is over, the process exits, or on Ctrl-C.

Each sample stops the process briefly (tens of microseconds for a few
threads with a CPU to spare; when every CPU is busy, a stopped thread waits
for one before it stops, and the pause can reach milliseconds; the mean
pause is reported); --nonblocking never stops it: stacks
are then read while threads move, and those that cannot be read whole are
counted as failed samples. A thread is idle when the kernel has it asleep
(waiting for I/O, a lock or the GIL); idle samples are left out unless
--idle. Samples that could not be read are counted and reported, never
dropped silently.

Each sample also carries the CPU time its thread used since the thread's
previous sample (its previous running one, unless --idle), read from the
kernel's scheduler clock: a thread that is
runnable but waits for a CPU is present in the samples, not in its CPU
time. pprof has both (sample types samples and cpu, the default; with
--idle also wall, then the default); --weight cpu weighs the flame graph's
and the collapsed stacks' frames by CPU time (nanoseconds) instead of
samples. speedscope and chrome keep the wall clock's time order.

Formats: flamegraph (self-contained HTML, the default), speedscope (open in
https://www.speedscope.app), pprof (go tool pprof, Pyroscope, Parca),
collapsed (Brendan Gregg's folded stacks), chrome (Trace Event Format: Perfetto).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() >= 0 {
				if cmd.ArgsLenAtDash() != 0 || len(args) == 0 {
					return fmt.Errorf("give either a PID or -- and a command; usage: %s", cmd.UseLine())
				}
				return nil
			}
			return oneArg("process ID (or -- and a command to start)")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() == 0 {
				return runRecord(cmd.ErrOrStderr(), 0, args, f)
			}
			pid, err := parsePID(args[0])
			if err != nil {
				return err
			}
			return runRecord(cmd.ErrOrStderr(), pid, nil, f)
		},
	}
	f.sampleFlags.register(cmd)
	fl := cmd.Flags()
	fl.VarP(&f.duration, "duration", "d", "stop after this long (seconds, or 90s, 5m); default: until Ctrl-C or the process exits")
	fl.StringVarP(&f.output, "output", "o", "", "file to write (\"-\" for stdout); default pyscope-PID-TIME and the format's extension")
	fl.StringVarP(&f.format, "format", "f", string(profile.Flamegraph), "flamegraph, speedscope, pprof, collapsed or chrome")
	fl.BoolVarP(&f.threads, "threads", "t", false, "split the profile by thread")
	fl.BoolVarP(&f.byFunction, "function", "F", false, "aggregate by function, not by line")
	fl.StringVar(&f.weight, "weight", string(profile.WeightSamples), "what a stack weighs in flamegraph and collapsed: samples, or cpu (the CPU time its threads used, ns)")
	return cmd
}

func parsePID(s string) (int, error) {
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%q is not a process ID; to start a command, put it after --", s)
	}
	return pid, nil
}

func runRecord(stderr io.Writer, pid int, command []string, f recordFlags) error {
	longRunning()
	format, err := profile.ParseFormat(f.format)
	if err != nil {
		return err
	}
	weight, err := profile.ParseWeight(f.weight)
	if err != nil {
		return err
	}
	// Said before sampling, not after a recording it would lose.
	if fi, err := os.Stat(f.output); err == nil && fi.IsDir() && f.output != "-" {
		return fmt.Errorf("cannot write the profile: %s is a directory; give a file name with -o", f.output)
	}
	// Signals end the recording, which then writes what it has; a second
	// one has its default effect (the processes run on either way).
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stopSignals()

	opts := f.sampleFlags.options()
	opts.Duration = time.Duration(f.duration)
	var child *exec.Cmd
	childDone := make(chan error, 1)
	if command != nil {
		child = exec.Command(command[0], command[1:]...)
		child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := child.Start(); err != nil {
			return fmt.Errorf("cannot start %s: %v", command[0], unwrapPath(err))
		}
		pid = child.Process.Pid
		opts.Launched = true
	}
	smp, err := sampler.New(pid, opts)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("pyscope record %d", pid)
	if child != nil {
		name = "pyscope record -- " + filepath.Base(command[0])
	}
	prof := profile.New(profile.Options{Name: name, Interval: smp.Period(), ByFunction: f.byFunction,
		SplitThreads: f.threads, SplitProcesses: f.subprocesses, Idle: f.idle, GILOnly: f.gil, Weight: weight})
	st := smp.Run(ctx, prof)
	smp.Close()
	stopSignals()
	if child != nil {
		// Only now: a wait in any thread of pyscope while the sampler
		// traces the child would take the ptrace stops meant for the
		// tracer thread. Until then the child's exit leaves a zombie,
		// which the sampler counts as exited.
		go func() { childDone <- child.Wait() }()
	}
	if len(st.Processes) == 0 && child != nil {
		<-childDone
		hint := ""
		if !f.subprocesses {
			hint = "; if it starts Python in a child process, add --subprocesses"
		}
		return fmt.Errorf("%s never ran Python: no CPython runtime was found in it%s", filepath.Base(command[0]), hint)
	}

	out := f.output
	if out == "" {
		out = fmt.Sprintf("pyscope-%d-%s%s", pid, time.Now().Format("20060102-150405"), format.Ext())
	}
	werr := writeProfile(out, prof, format)
	summarize(stderr, pid, st, prof.Stats(), f, out, format, werr)
	if werr != nil {
		return werr
	}
	if child != nil {
		if err := <-childDone; err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				fmt.Fprintf(stderr, "pyscope: %s %s\n", filepath.Base(command[0]), ee.ProcessState.String())
			}
		}
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// longRunning undoes main's GC setting for a dump: a profiler runs for
// minutes and keeps its heap, which the default collects closer to what
// it holds.
func longRunning() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(100)
	}
}

// writeProfile writes the profile to path ("-": stdout) through a
// temporary file, so that an interrupted write leaves no half profile.
// A path that is not a regular file (/dev/null, a FIFO) is written as it
// is: renaming over it would replace the device.
func writeProfile(path string, p *profile.Profile, f profile.Format) error {
	if path == "-" {
		return p.Write(os.Stdout, f)
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return fmt.Errorf("cannot write the profile: %s is a directory", path)
		}
		out, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("cannot write the profile: %v", unwrapPath(err))
		}
		if err := p.Write(out, f); err != nil {
			out.Close()
			return fmt.Errorf("cannot write the profile to %s: %v", path, unwrapPath(err))
		}
		return out.Close()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("cannot write the profile: %v", unwrapPath(err))
	}
	defer os.Remove(tmp.Name())
	if err := p.Write(tmp, f); err != nil {
		tmp.Close()
		return fmt.Errorf("cannot write the profile to %s: %v", path, unwrapPath(err))
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cannot write the profile to %s: %v", path, unwrapPath(err))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cannot write the profile to %s: %v", path, unwrapPath(err))
	}
	return nil
}

// summarize says on stderr what was recorded, what failed and where it
// went.
func summarize(w io.Writer, pid int, st sampler.Stats, ps profile.Stats, f recordFlags, out string, format profile.Format, werr error) {
	taken := st.Ticks - st.Missed
	pct := 100.0
	if st.Ticks > 0 {
		pct = 100 * float64(taken) / float64(st.Ticks)
	}
	procs := fmt.Sprintf("process %d", pid)
	if n := len(st.Processes); n > 1 {
		procs = fmt.Sprintf("%d processes", n)
	}
	fmt.Fprintf(w, "pyscope: %d samples of %s in %.1f s: %d ticks at %g Hz, %.1f%% taken",
		ps.Samples, procs, st.Elapsed.Seconds(), taken, f.rate, pct)
	if st.Captures > 0 && !f.nonblocking {
		fmt.Fprintf(w, ", process stopped %s per sample on average", roundDur(st.Pause/time.Duration(st.Captures)))
	}
	fmt.Fprintln(w)
	kept := fmt.Sprintf("pyscope: %d samples kept", ps.Kept)
	if ps.Measured > 0 {
		kept += fmt.Sprintf(" (%.2f s of CPU time)", ps.CPU.Seconds())
	}
	var left []string
	if ps.Idle > 0 && !f.idle {
		left = append(left, fmt.Sprintf("%d idle (--idle keeps them)", ps.Idle))
	}
	// A free-threaded build runs without a GIL unless it is enabled at
	// run time (PYTHON_GIL=1, or an extension that needs it): say so
	// rather than leave an empty profile unexplained.
	noGIL := f.gil && ps.GIL == 0 && st.Captures > 0 && st.FreeThreaded == st.Captures
	if f.gil {
		left = append(left, fmt.Sprintf("%d not holding the GIL", ps.Samples-ps.GIL))
	}
	if ps.Empty > 0 {
		left = append(left, fmt.Sprintf("%d without Python frames", ps.Empty))
	}
	if len(left) > 0 {
		kept += "; left out: " + strings.Join(left, ", ")
	}
	fmt.Fprintln(w, kept)
	if noGIL {
		who := "the process is"
		if len(st.Processes) > 1 {
			who = "the processes are"
		}
		fmt.Fprintf(w, "pyscope: no sample holds the GIL: %s a free-threaded build, which runs without a GIL unless it is enabled at run time\n", who)
	}
	if n := failedTotal(ps.Failed); n > 0 {
		fmt.Fprintf(w, "pyscope: %d samples failed (counted in the profile): %s\n", n, failedReasons(ps.Failed, 3))
	}
	for _, p := range st.Exited {
		fmt.Fprintf(w, "pyscope: process %d exited\n", p)
	}
	if werr == nil {
		where := out
		if out == "-" {
			where = "stdout"
		}
		fmt.Fprintf(w, "pyscope: wrote %s (%s)\n", where, format)
	}
}

func failedTotal(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// failedReasons lists the n commonest failure reasons.
func failedReasons(m map[string]int64, n int) string {
	type kv struct {
		k string
		v int64
	}
	var all []kv
	for k, v := range m {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].v != all[j].v {
			return all[i].v > all[j].v
		}
		return all[i].k < all[j].k
	})
	var parts []string
	for i, e := range all {
		if i == n {
			parts = append(parts, fmt.Sprintf("%d other reasons", len(all)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%d × %s", e.v, e.k))
	}
	return strings.Join(parts, "; ")
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}

// durationValue is a duration given as seconds ("10", "2.5") or as Go
// spells it ("90s", "5m").
type durationValue time.Duration

func (d *durationValue) String() string {
	if *d == 0 {
		return ""
	}
	return time.Duration(*d).String()
}

func (d *durationValue) Set(s string) error {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if v <= 0 || v > 1e9 {
			return fmt.Errorf("%q is not a positive number of seconds", s)
		}
		*d = durationValue(time.Duration(v * float64(time.Second)))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("%q is not a duration (give seconds, or e.g. 90s, 5m)", s)
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) Type() string { return "duration" }
