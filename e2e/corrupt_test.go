package e2e

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pyscope/internal/cpython"
	"pyscope/internal/model"
	"pyscope/internal/target/live"
	"pyscope/internal/testenv"
)

// poke makes the corrupt.py target overwrite 8 bytes of its own memory.
func poke(t *testing.T, tg *testenv.Target, addr, value uint64) {
	t.Helper()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], value)
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(filepath.Join(tg.Dir, "poke"), os.O_WRONLY, 0)
		if err != nil {
			done <- err
			return
		}
		fmt.Fprintf(f, "poke %x %s\n", addr, hex.EncodeToString(b[:]))
		f.Close()
		ack, err := os.ReadFile(filepath.Join(tg.Dir, "poked"))
		if err == nil && !strings.Contains(string(ack), "done") {
			err = fmt.Errorf("unexpected ack %q", ack)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("target did not apply the poke")
	}
}

// TestCorruptState corrupts a running target's frame chains and thread
// list: pyscope must show everything up to the damage, mark the rest
// unreadable, detect the cycles, and never crash or hang.
func TestCorruptState(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		if strings.HasPrefix(in.Name, "venv") {
			continue // the same build as debian-3.11
		}
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			tg := testenv.StartTarget(t, in, "corrupt.py")
			p, err := live.Open(tg.PID, live.Options{NoBlock: true})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			interp, err := cpython.Discover(p)
			if err != nil {
				t.Fatal(err)
			}
			r := cpython.NewReader(p, interp)
			snap, err := r.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			L := interp.Layout
			prevOff := uint64(L.Frame.Previous)
			if interp.Minor <= 10 {
				prevOff = uint64(L.FrameObj.Back)
			}
			byName := func(name string) (*model.Thread, *testenv.OracleThread) {
				for i := range snap.Threads {
					th := &snap.Threads[i]
					if th.Name != nil && *th.Name == name {
						return th, tg.Oracle.Thread(th.ThreadID)
					}
				}
				t.Fatalf("no thread %q", name)
				return nil, nil
			}
			frameIndex := func(th *model.Thread, fn string) int {
				for i, f := range th.Frames {
					if f.Function == fn {
						return i
					}
				}
				t.Fatalf("no frame %s", fn)
				return 0
			}
			// 1. victim: the frame after victim_middle points at unmapped memory.
			victim, victimOracle := byName("victim")
			vm := frameIndex(victim, "victim_middle")
			poke(t, tg, victim.Frames[vm].Addr+prevOff, 0x00007a0000000000)
			// 2. bystander: its outermost frame points back at its innermost one.
			by, byOracle := byName("bystander")
			poke(t, tg, by.Frames[len(by.Frames)-1].Addr+prevOff, by.Frames[0].Addr)
			// 3. the thread list loops: the last thread state points at the first.
			interps, err := r.Interpreters()
			if err != nil {
				t.Fatal(err)
			}
			tss, err := r.Threads(interps[len(interps)-1])
			if err != nil {
				t.Fatal(err)
			}
			poke(t, tg, tss[len(tss)-1].Addr+uint64(L.Thread.Next), tss[0].Addr)

			res := runPyscope(t, bin, nil, "dump", "--json", strconv.Itoa(tg.PID))
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			var d struct {
				Warnings []string `json:"warnings"`
				Threads  []struct {
					ThreadID  uint64      `json:"thread_id"`
					Truncated bool        `json:"truncated"`
					Error     string      `json:"error"`
					Frames    []DumpFrame `json:"frames"`
				} `json:"threads"`
			}
			if err := json.Unmarshal([]byte(res.stdout), &d); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(d.Warnings, "\n"), "cycle") {
				t.Errorf("no warning about the thread list cycle: %q", d.Warnings)
			}
			if len(d.Threads) != len(tg.Oracle.Threads) {
				t.Errorf("%d threads, want %d despite the cycle", len(d.Threads), len(tg.Oracle.Threads))
			}
			for _, th := range d.Threads {
				ot := tg.Oracle.Thread(th.ThreadID)
				if ot == nil {
					t.Errorf("unknown thread %d", th.ThreadID)
					continue
				}
				want := ot.Frames
				switch ot.ThreadID {
				case victimOracle.ThreadID:
					want = want[:vm+1]
					if !th.Truncated || !strings.Contains(th.Error, "cannot read") {
						t.Errorf("victim: truncated=%v error=%q, want an unreadable frame", th.Truncated, th.Error)
					}
				case byOracle.ThreadID:
					if !th.Truncated || !strings.Contains(th.Error, "cycle") {
						t.Errorf("bystander: truncated=%v error=%q, want a cycle", th.Truncated, th.Error)
					}
				default:
					if th.Truncated {
						t.Errorf("thread %s truncated: %s", label(ot), th.Error)
					}
				}
				if len(th.Frames) != len(want) {
					t.Errorf("thread %s: %d frames, want %d", label(ot), len(th.Frames), len(want))
					continue
				}
				for i := range want {
					if th.Frames[i].Function != want[i].Function || th.Frames[i].Line != want[i].Line {
						t.Errorf("thread %s frame %d: %s, want %s", label(ot), i, fmtDump(th.Frames[i]), fmtOracle(want[i]))
					}
				}
			}
			txt := runPyscope(t, bin, nil, "dump", strconv.Itoa(tg.PID))
			if !strings.Contains(txt.stdout, "<unreadable: ") {
				t.Errorf("text output does not mark the unreadable part:\n%.3000s", txt.stdout)
			}
			if err := testenv.NotStopped(tg.PID); err != nil {
				t.Error(err)
			}
		})
	}
}
