package top

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"pyscope/internal/profile"
	"pyscope/internal/sampler"
)

// Options shape a top session.
type Options struct {
	// Title names what is sampled ("process 1234 (python3), Python 3.12").
	Title string
	// Delay is the refresh interval (default 1 s).
	Delay time.Duration
	// Iterations ends the session after that many refreshes (0: never).
	Iterations int
	// Batch prints plain blocks of lines and reads no keys (top -b): for
	// output that is not a terminal.
	Batch bool
	// Lines, Idle and GILOnly are where the keys l, i and g start.
	Lines, Idle, GILOnly bool
	// NonBlocking says the sampler never stops the process.
	NonBlocking bool
}

// Run samples with s and shows the result on out until ctx ends, q is
// pressed, the iterations are done, or (in batch mode, or without a
// keyboard) every process exited. Keys are read from in when it is a
// terminal.
func Run(ctx context.Context, s *sampler.Sampler, in, out *os.File, opts Options) error {
	if opts.Delay <= 0 {
		opts.Delay = time.Second
	}
	v := &view{title: opts.Title, period: s.Period(), lines: opts.Lines, idle: opts.Idle,
		gilOnly: opts.GILOnly, nonblock: opts.NonBlocking, now: time.Now()}
	col := newCollector(v)
	var scr screen
	keys := make(chan byte, 16)
	if opts.Batch {
		scr = &batchScreen{w: out}
	} else {
		ts, err := newTermScreen(in, out)
		if err != nil {
			return err
		}
		defer ts.close()
		scr = ts
		if ts.keyboard {
			go readKeys(in, keys)
		}
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)

	// The sampler runs until paused or done; pausing stops it, so that a
	// paused view costs the process nothing.
	var (
		cancel   context.CancelFunc = func() {}
		done     chan sampler.Stats
		running  bool
		finished bool
	)
	start := func() {
		var rctx context.Context
		rctx, cancel = context.WithCancel(ctx)
		done = make(chan sampler.Stats, 1)
		running = true
		col.restart()
		go func() { done <- s.Run(rctx, col) }()
	}
	stop := func() {
		if running {
			cancel()
			<-done
			running = false
		}
	}
	defer stop()
	start()
	tick := time.NewTicker(opts.Delay)
	defer tick.Stop()
	scr.draw(v)
	for iter := 0; ; {
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			running = false
			finished = true
			v.finish(col.swap())
			v.status = "every process exited"
			v.now = time.Now()
			scr.draw(v)
			if opts.Batch || !scr.interactive() {
				return nil
			}
		case <-tick.C:
			if v.paused || finished {
				continue
			}
			v.finish(col.swap())
			v.now = time.Now()
			scr.draw(v)
			if iter++; opts.Iterations > 0 && iter >= opts.Iterations {
				return nil
			}
		case <-winch:
			scr.draw(v)
		case k := <-keys:
			if v.help {
				v.help = false
				scr.draw(v)
				continue
			}
			switch k {
			case 'q', 'Q', 3: // 3: Ctrl-C in raw mode
				return nil
			case '1', '2', '3', '4':
				v.sortCol = int(k - '1')
			case '<':
				v.sortCol = (v.sortCol + numCols - 1) % numCols
			case '>':
				v.sortCol = (v.sortCol + 1) % numCols
			case 'R':
				v.reverse = !v.reverse
			case 'l', 'L':
				v.lines = !v.lines
			case 'i':
				v.idle = !v.idle
			case 'g':
				v.gilOnly = !v.gilOnly
			case 'x':
				v.reset()
			case 'h', '?':
				v.help = true
			case 'p', ' ':
				if finished {
					break
				}
				v.paused = !v.paused
				if v.paused {
					stop()
				} else {
					start()
				}
			default:
				continue
			}
			scr.draw(v)
		}
	}
}

// collector is the sampler's sink: it gathers one refresh interval.
type collector struct {
	mu       sync.Mutex
	opts     profile.Options
	p        *profile.Profile
	start    time.Time
	ticks    int64
	pause    time.Duration
	captures int64
	noGIL    int64 // captures of free-threaded processes
	threads  map[threadKey]bool
	procs    map[int]bool
	running  int // threads running in the current tick
	lastRun  int // and in the last complete one
}

type threadKey struct {
	pid int
	tid uint64
}

// newCollector makes a collector that keeps every sample, idle or not,
// holding the GIL or not: the view filters what it shows (keys i and g),
// at once, from what was already sampled.
func newCollector(v *view) *collector {
	c := &collector{opts: profile.Options{Interval: v.period, Idle: true, MaxRuns: 1}}
	c.reset()
	return c
}

func (c *collector) reset() {
	c.p = profile.New(c.opts)
	c.start = time.Now()
	c.ticks, c.pause, c.captures, c.noGIL = 0, 0, 0, 0
	c.threads = map[threadKey]bool{}
	c.procs = map[int]bool{}
	c.running = 0
}

// restart drops what was gathered (after a pause).
func (c *collector) restart() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reset()
}

func (c *collector) Add(s profile.Sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.p.Add(s)
	c.threads[threadKey{s.PID, s.ThreadID}] = true
	c.procs[s.PID] = true
	if !s.Idle {
		c.running++
	}
}

func (c *collector) AddFailed(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.p.AddFailed(reason)
}

// Tick ends one sampling instant.
func (c *collector) Tick(t sampler.Tick) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ticks++
	c.pause += t.Pause
	c.captures += int64(t.Captures)
	c.noGIL += int64(t.NoGIL)
	c.lastRun, c.running = c.running, 0
}

// swap returns the interval gathered so far and starts the next one.
func (c *collector) swap() window {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := window{stats: c.p.Stats(), ticks: c.ticks,
		procs: len(c.procs), threads: len(c.threads), running: c.lastRun, duration: time.Since(c.start),
		noGIL: c.captures > 0 && c.noGIL == c.captures}
	for f := range numFilters {
		w.funcs[f] = c.p.FunctionsWhere(filterOf(f), false)
		w.lines[f] = c.p.FunctionsWhere(filterOf(f), true)
	}
	if c.captures > 0 {
		w.pause = c.pause / time.Duration(c.captures)
	}
	c.reset()
	return w
}

// screen shows a view.
type screen interface {
	draw(v *view)
	interactive() bool
}

// batchScreen prints every refresh as plain lines (top -b).
type batchScreen struct{ w io.Writer }

func (b *batchScreen) draw(v *view) {
	if v.last.ticks == 0 && v.status == "" {
		return // nothing sampled yet
	}
	var buf bytes.Buffer
	for _, l := range v.rows(0, 0) {
		buf.WriteString(strings.TrimPrefix(l, "\x00"))
		buf.WriteByte('\n')
	}
	buf.WriteByte('\n')
	b.w.Write(buf.Bytes())
}

func (b *batchScreen) interactive() bool { return false }

// termScreen draws on a terminal's alternate screen, as top does, with
// the few escape sequences every terminal has; the terminal is restored
// on close.
type termScreen struct {
	out      *os.File
	in       *os.File
	old      *term.State
	keyboard bool
}

func newTermScreen(in, out *os.File) (*termScreen, error) {
	t := &termScreen{in: in, out: out}
	if term.IsTerminal(int(in.Fd())) {
		old, err := term.MakeRaw(int(in.Fd()))
		if err != nil {
			return nil, fmt.Errorf("cannot set up the terminal: %v", err)
		}
		t.old, t.keyboard = old, true
	}
	// Alternate screen, cursor hidden.
	io.WriteString(out, "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J")
	return t, nil
}

func (t *termScreen) interactive() bool { return t.keyboard }

func (t *termScreen) close() {
	io.WriteString(t.out, "\x1b[0m\x1b[?25h\x1b[?1049l")
	if t.old != nil {
		term.Restore(int(t.in.Fd()), t.old)
	}
}

func (t *termScreen) draw(v *view) {
	w, h, err := term.GetSize(int(t.out.Fd()))
	if err != nil || w <= 0 || h <= 0 {
		w, h = 80, 24
	}
	var buf bytes.Buffer
	buf.WriteString("\x1b[H")
	for i, l := range v.rows(w, h) {
		if i > 0 {
			buf.WriteString("\r\n")
		}
		if rest, ok := strings.CutPrefix(l, "\x00"); ok {
			buf.WriteString("\x1b[7m")
			buf.WriteString(rest)
			buf.WriteString(strings.Repeat(" ", max(0, w-displayWidth(rest))))
			buf.WriteString("\x1b[0m")
			continue
		}
		buf.WriteString(l)
		buf.WriteString("\x1b[K")
	}
	buf.WriteString("\x1b[J")
	t.out.Write(buf.Bytes())
}

// readKeys sends the keys typed on in; escape sequences (arrows, function
// keys) are skipped.
func readKeys(in *os.File, keys chan<- byte) {
	buf := make([]byte, 64)
	for {
		n, err := in.Read(buf)
		if err != nil || n == 0 {
			return
		}
		for _, b := range buf[:n] {
			if b == 0x1b {
				break
			}
			keys <- b
		}
	}
}
