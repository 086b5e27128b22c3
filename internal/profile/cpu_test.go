package profile

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// TestCPUWeight: real samples given CPU times (as the sampler measures
// them) keep their counts in every format, and their CPU time adds up, per
// thread and in all, in pprof's cpu values and in collapsed stacks weighed
// by CPU; idle samples carry theirs when kept.
func TestCPUWeight(t *testing.T) {
	samples := busyRecording(t).python()
	for i := range samples {
		samples[i].CPU = time.Duration(i%7+1) * 137 * time.Microsecond
		samples[i].CPUKnown = true
	}
	for _, idle := range []bool{false, true} {
		t.Run(fmt.Sprintf("idle=%v", idle), func(t *testing.T) {
			o := Options{Name: "busy.py", Idle: idle}
			_, all := kept(samples, o)
			cpu := map[uint64]int64{}
			var cpuAll int64
			for _, s := range samples {
				if len(s.Frames) > 0 && (idle || !s.Idle) {
					cpu[s.ThreadID] += s.CPU.Nanoseconds()
					cpuAll += s.CPU.Nanoseconds()
				}
			}
			if cpuAll == 0 {
				t.Fatal("no sample kept")
			}
			p := build(samples, o)
			if st := p.Stats(); st.CPU.Nanoseconds() != cpuAll || st.Measured != all {
				t.Errorf("stats: CPU %v of %d measured samples, want %v of %d", st.CPU, st.Measured, time.Duration(cpuAll), all)
			}

			raw, err := os.ReadFile(write(t, p, Pprof))
			if err != nil {
				t.Fatal(err)
			}
			pp, err := profile.Parse(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"samples/count", "cpu/nanoseconds"}
			def := "cpu"
			if idle {
				want = []string{"samples/count", "wall/nanoseconds", "cpu/nanoseconds"}
				def = "wall"
			}
			if len(pp.SampleType) != len(want) || pp.DefaultSampleType != def {
				t.Fatalf("sample types %v (default %s), want %v (default %s)", pp.SampleType, pp.DefaultSampleType, want, def)
			}
			for i, st := range pp.SampleType {
				if st.Type+"/"+st.Unit != want[i] {
					t.Errorf("sample type %d: %s/%s, want %s", i, st.Type, st.Unit, want[i])
				}
			}
			c := len(want) - 1
			var n, sum int64
			byThread := map[uint64]int64{}
			for _, s := range pp.Sample {
				n += s.Value[0]
				sum += s.Value[c]
				byThread[uint64(s.NumLabel["thread_id"][0])] += s.Value[c]
				if idle && s.Value[1] != s.Value[0]*pp.Period {
					t.Errorf("sample value %v: wall is not count × period %d", s.Value, pp.Period)
				}
			}
			if n != all || sum != cpuAll {
				t.Errorf("pprof: %d samples and %v CPU, want %d and %v", n, time.Duration(sum), all, time.Duration(cpuAll))
			}
			for tid, ns := range cpu {
				if byThread[tid] != ns {
					t.Errorf("thread %#x: %v CPU in pprof, want %v", tid, time.Duration(byThread[tid]), time.Duration(ns))
				}
			}

			// Collapsed stacks: counts by default, CPU nanoseconds by weight.
			for _, w := range []Weight{WeightSamples, WeightCPU} {
				o.Weight = w
				var b bytes.Buffer
				if err := build(samples, o).WriteCollapsed(&b); err != nil {
					t.Fatal(err)
				}
				var got int64
				for _, f := range parseCollapsed(t, b.Bytes()) {
					got += f.count
				}
				if want := map[Weight]int64{WeightSamples: all, WeightCPU: cpuAll}[w]; got != want {
					t.Errorf("collapsed weighed by %s adds up to %d, want %d", w, got, want)
				}
			}
		})
	}
}
