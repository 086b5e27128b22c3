package cpython

import (
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"

	"pyscope/internal/fuzzguard"
	"pyscope/internal/pybuilds"
)

// TestLineTables decodes the line tables of thousands of real code objects
// and compares every instruction's line with what the interpreter reports
// through co_lines(), and on 3.11+ its location with co_positions().
func TestLineTables(t *testing.T) {
	for _, minor := range pybuilds.Minors() {
		minor := minor
		t.Run(minor, func(t *testing.T) {
			t.Parallel()
			b, err := pybuilds.Get(minor)
			if err != nil {
				t.Fatalf("provision Python %s: %v (run scripts/test.sh)", minor, err)
			}
			out, err := exec.Command(b.Python, "testdata/linetables.py").Output()
			if err != nil {
				t.Fatalf("run %s: %v", b.Python, err)
			}
			var codes []struct {
				Name      string
				First     int
				Table     string
				Lines     map[string]int
				Positions map[string][4]int
			}
			if err := json.Unmarshal(out, &codes); err != nil {
				t.Fatal(err)
			}
			m, _ := strconv.Atoi(minor[2:])
			checked, positions := 0, 0
			for _, c := range codes {
				table, _ := hex.DecodeString(c.Table)
				for offs, want := range c.Lines {
					off, _ := strconv.Atoi(offs)
					var got int
					if m <= 10 {
						got = Line310(table, c.First, off)
					} else {
						got = Line311(table, c.First, off)
					}
					if got != want {
						t.Fatalf("%s: offset %d: line %d, interpreter says %d", c.Name, off, got, want)
					}
					checked++
				}
				for offs, want := range c.Positions {
					off, _ := strconv.Atoi(offs)
					if got := Location311(table, c.First, off); got != (Location{want[0], want[1], want[2], want[3]}) {
						t.Fatalf("%s: offset %d: location %v, interpreter says %v", c.Name, off, got, want)
					}
					positions++
				}
			}
			if m >= 11 && positions < 10000 {
				t.Fatalf("only %d positions checked", positions)
			}
			if checked < 10000 {
				t.Fatalf("only %d offsets checked", checked)
			}
		})
	}
}

func FuzzLine311(f *testing.F) {
	f.Add([]byte{0x80 | 14<<3 | 2, 0x02, 0x04, 0x06, 0x08, 0x80 | 10<<3, 1, 2}, 10, 4)
	f.Add([]byte{0xf8, 0xf8, 0x80 | 13<<3, 0x7f, 0x7f, 0x7f}, 1, 2)
	fuzzguard.Fuzz(f, func(t *testing.T, table []byte, first, addr int) {
		Line311(table, first, addr)
	})
}

func FuzzLine310(f *testing.F) {
	f.Add([]byte{6, 1, 8, 0x80, 2, 0xff}, 10, 4)
	fuzzguard.Fuzz(f, func(t *testing.T, table []byte, first, addr int) {
		Line310(table, first, addr)
	})
}
