package native

import (
	"strings"
	"testing"

	"pyscope/internal/model"
	"pyscope/internal/symbolize"
	"pyscope/internal/target"
)

// The pairing rule itself, on hand-built stacks (the e2e tests check it on
// real processes against the interpreter's own tracebacks).
func nf(fn, mod string) nframe {
	f := nframe{sym: symbolize.Symbol{Function: fn}, module: mod}
	f.eval = fn == "_PyEval_EvalFrameDefault"
	return f
}

func names(fr []model.Frame) string {
	var s []string
	for _, f := range fr {
		s = append(s, f.Function)
	}
	return strings.Join(s, ",")
}

func TestMerge(t *testing.T) {
	lib, libc := "/usr/lib/libpython3.12.so", "/lib/libc.so.6"
	native := []nframe{
		nf("read", libc), nf("_Py_read", lib), nf("_PyEval_EvalFrameDefault", lib),
		nf("cfunc", lib), nf("qsort", libc), nf("_PyEval_EvalFrameDefault", lib),
		nf("Py_RunMain", lib), nf("__libc_start_main", libc),
	}
	py := []model.Frame{{Function: "a"}, {Function: "b", Entry: true}, {Function: "c", Entry: true}}
	got, err := merge(native, py, false)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := names(got), "read,_Py_read,a,b,qsort,c,__libc_start_main"; g != w {
		t.Errorf("merge: %s, want %s", g, w)
	}
	got, _ = merge(native, py, true)
	if g, w := names(got), "read,_Py_read,a,b,_PyEval_EvalFrameDefault,cfunc,qsort,c,_PyEval_EvalFrameDefault,Py_RunMain,__libc_start_main"; g != w {
		t.Errorf("merge all: %s, want %s", g, w)
	}
	// One run too many: never a wrong mix.
	if _, err := merge(native, append(py, model.Frame{Function: "d", Entry: true}), false); err == nil {
		t.Error("mismatched stacks merged")
	}
}

func TestSyscallName(t *testing.T) {
	for nr, want := range map[int]string{0: "read", 202: "futex", 34: "pause", 230: "clock_nanosleep", 99999: "syscall_99999"} {
		if got := SyscallName(target.AMD64, nr); got != want {
			t.Errorf("SyscallName(%d) = %q, want %q", nr, got, want)
		}
	}
}
