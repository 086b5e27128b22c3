package live

import (
	"math/rand"
	"testing"

	"pyscope/internal/target"
)

// BenchmarkReads compares the page cache with direct reads for small reads
// with dump-like locality ("local": many reads within few pages) and for
// scattered reads over the whole heap ("scattered").
func BenchmarkReads(b *testing.B) {
	c := startPython(b, `
objs = [str(i) * 3 for i in range(200000)]
`)
	c.until(b, "ready")
	p, err := Open(c.pid, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var heap target.Mapping
	for _, m := range p.Mappings() {
		if m.Path == "[heap]" {
			heap = m
		}
	}
	size := heap.End - heap.Start - 64
	rng := rand.New(rand.NewSource(1))
	scattered := make([]uint64, 2000)
	for i := range scattered {
		scattered[i] = heap.Start + uint64(rng.Int63n(int64(size)))
	}
	local := make([]uint64, 2000)
	for i := range local {
		local[i] = heap.Start + uint64(i*97)%min(size, 256<<10)
	}
	for _, pat := range []struct {
		name  string
		addrs []uint64
	}{{"local", local}, {"scattered", scattered}} {
		for _, mode := range []struct {
			name          string
			cache, procfs bool
		}{{"cached", true, false}, {"uncached", false, false}, {"procmem-cached", true, true}, {"procmem-uncached", false, true}} {
			b.Run(pat.name+"/"+mode.name, func(b *testing.B) {
				p.mem.useFile = mode.procfs
				var buf [32]byte
				for i := 0; i < b.N; i++ {
					// A fresh cache per iteration: one "dump" of 2000 reads.
					p.mem.setCaching(mode.cache)
					for _, a := range pat.addrs {
						if _, err := p.ReadAt(buf[:], a); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pat.addrs)), "ns/read")
			})
		}
	}
}

// BenchmarkCPUTime is what a profiler pays per thread and sample for its
// CPU time: a pread of the thread's schedstat, kept open.
func BenchmarkCPUTime(b *testing.B) {
	c := startPython(b, ``)
	c.until(b, "ready")
	p, err := Open(c.pid, Options{NoBlock: true, NoThreads: true})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for b.Loop() {
		if _, err := p.CPUTime(c.pid); err != nil {
			b.Fatal(err)
		}
	}
}
