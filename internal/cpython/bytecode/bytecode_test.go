package bytecode

import (
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"testing"

	"pyscope/internal/pybuilds"
)

type disCode struct {
	Name  string   `json:"name"`
	Code  string   `json:"code"`
	Table string   `json:"table"`
	Ins   [][4]any `json:"ins"`
	Exc   [][5]any `json:"exc"`
}

// TestMatchesDis decodes the code of real standard-library modules the way
// pyscope reads a frame's code, and compares every instruction, argument,
// jump target and exception-table entry with what the interpreter's own
// dis module says.
func TestMatchesDis(t *testing.T) {
	for _, minor := range pybuilds.Minors() {
		t.Run(minor, func(t *testing.T) {
			b, err := pybuilds.Get(minor)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := exec.Command(b.Python, "-I", "testdata/disdump.py").Output()
			if err != nil {
				t.Fatalf("%s: %v", b.Python, err)
			}
			var codes []disCode
			if err := json.Unmarshal(raw, &codes); err != nil {
				t.Fatal(err)
			}
			tb, err := For(minor)
			if err != nil {
				t.Fatal(err)
			}
			jumps, handlers := 0, 0
			for _, c := range codes {
				code, _ := hex.DecodeString(c.Code)
				ins, err := tb.Decode(code)
				if err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				if len(ins) != len(c.Ins) {
					t.Fatalf("%s: %d instructions, dis has %d", c.Name, len(ins), len(c.Ins))
				}
				for i, want := range c.Ins {
					got := ins[i]
					off, name, arg, target := int(want[0].(float64)), want[1].(string), int(want[2].(float64)), int(want[3].(float64))
					if got.Offset != off || got.Name != name || (arg >= 0 && got.Arg != arg) || got.Target != target {
						t.Fatalf("%s: instruction %d: got %+v, dis says offset %d %s arg %d target %d", c.Name, i, got, off, name, arg, target)
					}
					if got.Target >= 0 {
						jumps++
					}
					if At(ins, got.Offset) != i || At(ins, got.Next-1) != i {
						t.Fatalf("%s: At does not find instruction %d", c.Name, i)
					}
				}
				tab, _ := hex.DecodeString(c.Table)
				hs, err := ExceptionTable(tab)
				if err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				if len(hs) != len(c.Exc) {
					t.Fatalf("%s: %d handlers, dis has %d", c.Name, len(hs), len(c.Exc))
				}
				for i, e := range c.Exc {
					want := Handler{int(e[0].(float64)), int(e[1].(float64)), int(e[2].(float64)), int(e[3].(float64)), e[4].(bool)}
					if hs[i] != want {
						t.Fatalf("%s: handler %d: got %+v, dis says %+v", c.Name, i, hs[i], want)
					}
					handlers++
				}
			}
			if jumps == 0 || (minor != "3.10" && handlers == 0) {
				t.Fatalf("only %d jumps and %d handlers checked", jumps, handlers)
			}
			t.Logf("%s: %d code objects, %d jumps, %d handlers agree with dis", b.Patch, len(codes), jumps, handlers)
		})
	}
}

func TestExceptionTableBad(t *testing.T) {
	for _, b := range [][]byte{{0x01}, {0x80}, {0x80, 0x41}, {0x80, 0x01, 0x01}, {0xc0, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40}} {
		if _, err := ExceptionTable(b); err == nil {
			t.Errorf("%x: no error", b)
		}
	}
}
