// Package fuzzguard makes a fuzz input that hangs fail the fuzz run.
//
// Go's fuzzing engine has no per-input timeout a run can rely on: a worker
// panics only after one input has run 10 s, and when -fuzztime ends first
// (CI fuzzes each target for seconds) the engine kills the stuck worker and
// reports PASS. A guarded target (Fuzz instead of f.Fuzz) instead:
//   - exits the process once an input has run for Limit, after writing a
//     report (the input in corpus-file form and every goroutine's stack);
//     the engine then records the input under testdata/fuzz and fails;
//   - in a fuzz worker, writes the same report when the engine interrupts it
//     at the end of -fuzztime while an input runs, and withdraws it if that
//     input still finishes. A report left means the run ended stalled.
//
// A fuzz worker's stderr is discarded, so reports also go to files in
// $PYSCOPE_FUZZ_STALLS when it is set; scripts/fuzz.sh fails on any.
package fuzzguard

import (
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// Limit bounds one input. Inputs take microseconds to milliseconds; seconds
// mean a hang, on any machine load. PYSCOPE_FUZZ_INPUT_LIMIT overrides it.
var Limit = 5 * time.Second

// StallDirEnv names the directory that receives reports.
const StallDirEnv = "PYSCOPE_FUZZ_STALLS"

// input is one call of the fuzz function in flight.
type input struct {
	name  string
	args  []any
	start time.Time
	path  string // report written at interrupt; guarded by mu
}

var (
	cur   atomic.Pointer[input]
	mu    sync.Mutex
	start sync.Once
)

// Fuzz is f.Fuzz with a bound on each input's run time; ff has the form
// f.Fuzz takes.
func Fuzz(f *testing.F, ff any) {
	f.Helper()
	fv := reflect.ValueOf(ff)
	if fv.Kind() != reflect.Func || fv.Type().NumIn() < 1 {
		f.Fatalf("fuzzguard.Fuzz: %T is not a fuzz function", ff)
	}
	start.Do(watch)
	name := f.Name()
	f.Fuzz(reflect.MakeFunc(fv.Type(), func(in []reflect.Value) []reflect.Value {
		args := make([]any, len(in)-1)
		for i, v := range in[1:] {
			args[i] = v.Interface()
		}
		r := &input{name: name, args: args, start: time.Now()}
		cur.Store(r)
		defer done(r)
		return fv.Call(in)
	}).Interface())
}

// done ends r, withdrawing a report the interrupt wrote while it ran.
func done(r *input) {
	cur.CompareAndSwap(r, nil)
	mu.Lock()
	if r.path != "" {
		os.Remove(r.path)
		r.path = ""
	}
	mu.Unlock()
}

// watch starts the per-input watchdog and, in a fuzz worker, the interrupt
// check. Only a worker may take SIGINT: elsewhere ^C must still stop tests.
func watch() {
	if s := os.Getenv("PYSCOPE_FUZZ_INPUT_LIMIT"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			Limit = d
		}
	}
	go func() {
		tick := time.NewTicker(Limit / 20)
		for range tick.C {
			if r := cur.Load(); r != nil && time.Since(r.start) > Limit {
				mu.Lock()
				report(r, fmt.Sprintf("fuzz input still running after %v (limit %v)",
					time.Since(r.start).Round(time.Millisecond), Limit))
				os.Exit(2)
			}
		}
	}()
	if fl := flag.Lookup("test.fuzzworker"); fl == nil || fl.Value.String() != "true" {
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		for range sig {
			r := cur.Load()
			if r == nil {
				continue
			}
			mu.Lock()
			if cur.Load() == r && r.path == "" {
				r.path = report(r, fmt.Sprintf("-fuzztime ended while a fuzz input had run for %v",
					time.Since(r.start).Round(time.Millisecond)))
			}
			mu.Unlock()
		}
	}()
}

// report writes why, r's input and every goroutine's stack to stderr and
// to a file in $PYSCOPE_FUZZ_STALLS, whose path it returns.
func report(r *input, why string) string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", r.name, why)
	fmt.Fprintf(&b, "input (save as testdata/fuzz/%s/NAME to replay it):\n%s\n", r.name, Corpus(r.args...))
	fmt.Fprintf(&b, "goroutines:\n%s\n", buf)
	os.Stderr.WriteString(b.String())
	dir := os.Getenv(StallDirEnv)
	if dir == "" {
		return ""
	}
	f, err := os.CreateTemp(dir, r.name+"-*.txt")
	if err != nil {
		fmt.Fprintf(os.Stderr, "fuzzguard: %v\n", err)
		return ""
	}
	f.WriteString(b.String())
	f.Close()
	return f.Name()
}

// Corpus encodes args as a "go test fuzz v1" file, as the fuzzing engine
// writes them.
func Corpus(args ...any) string {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch t := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", t)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", t)
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", t)
		case rune:
			if utf8.ValidRune(t) {
				fmt.Fprintf(&b, "rune(%q)\n", t)
			} else {
				fmt.Fprintf(&b, "int32(%v)\n", t)
			}
		case float32:
			if math.IsNaN(float64(t)) {
				fmt.Fprintf(&b, "math.Float32frombits(0x%x)\n", math.Float32bits(t))
			} else {
				fmt.Fprintf(&b, "float32(%v)\n", t)
			}
		case float64:
			if math.IsNaN(t) {
				fmt.Fprintf(&b, "math.Float64frombits(0x%x)\n", math.Float64bits(t))
			} else {
				fmt.Fprintf(&b, "float64(%v)\n", t)
			}
		default:
			fmt.Fprintf(&b, "%T(%v)\n", t, t)
		}
	}
	return b.String()
}
