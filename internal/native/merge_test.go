package native

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"pyscope/internal/model"
	"pyscope/internal/symbolize"
	"pyscope/internal/target"
	"pyscope/internal/unwind"
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
	got, _, err := merge(native, []stack{{frames: py}}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := names(got[0]), "read,_Py_read,a,b,qsort,c,__libc_start_main"; g != w {
		t.Errorf("merge: %s, want %s", g, w)
	}
	got, _, _ = merge(native, []stack{{frames: py}}, true, false)
	if g, w := names(got[0]), "read,_Py_read,a,b,_PyEval_EvalFrameDefault,cfunc,qsort,c,_PyEval_EvalFrameDefault,Py_RunMain,__libc_start_main"; g != w {
		t.Errorf("merge all: %s, want %s", g, w)
	}
	// One run too many: never a wrong mix.
	if _, _, err := merge(native, []stack{{frames: append(py, model.Frame{Function: "d", Entry: true})}}, false, false); err == nil {
		t.Error("mismatched stacks merged")
	}
	// Several thread states without shims cannot be told apart.
	if _, _, err := merge(native, []stack{{frames: py[:2]}, {frames: py[2:]}}, false, false); err == nil {
		t.Error("thread states without shims merged")
	}
}

// on gives a native frame the stack range [sp, sp+16) of a 3.12+ frame.
func on(f nframe, sp uint64) nframe {
	f.sp, f.cfa = sp, sp+16
	return f
}

// TestMergeByShim: thread states of nested interpreters on one kernel
// thread, each paired with its eval loops by the shims on their stacks,
// and an eval loop with no Python frame left (a generator being cleared).
func TestMergeByShim(t *testing.T) {
	lib, libc := "/usr/lib/libpython3.12.so", "/lib/libc.so.6"
	native := []nframe{
		on(nf("nanosleep", libc), 0x100), on(nf("time_sleep", lib), 0x110),
		on(nf("_PyEval_EvalFrameDefault", lib), 0x120), // inner interpreter
		on(nf("run_string", lib), 0x130),
		on(nf("_PyEval_EvalFrameDefault", lib), 0x140), // outer: run 1
		on(nf("slot_tp_finalize", lib), 0x150),
		on(nf("_PyEval_EvalFrameDefault", lib), 0x160), // outer: frameless
		on(nf("gen_send_ex2", lib), 0x170),
		on(nf("_PyEval_EvalFrameDefault", lib), 0x180), // outer: run 2
		on(nf("start_thread", libc), 0x190),
	}
	inner := stack{frames: []model.Frame{{Function: "sub"}, {Function: "submod", Entry: true, Shim: 0x128}}}
	outer := stack{frames: []model.Frame{{Function: "del", Entry: true, Shim: 0x148},
		{Function: "f"}, {Function: "g", Entry: true, Shim: 0x188}}, empty: []uint64{0x168}}
	// The outer thread state is listed first, as the interpreters are.
	got, order, err := merge(native, []stack{outer, inner}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != 2 || order[0] != 1 || order[1] != 0 {
		t.Errorf("order %v, want the inner thread state first", order)
	}
	if g, w := names(got[1]), "nanosleep,time_sleep,sub,submod"; g != w {
		t.Errorf("inner: %s, want %s", g, w)
	}
	if g, w := names(got[0]), "run_string,del,_PyEval_EvalFrameDefault,f,g,start_thread"; g != w {
		t.Errorf("outer: %s, want %s", g, w)
	}
	all, _, err := merge(native, []stack{outer, inner}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	// Together they are the whole native stack, in order.
	var fns []string
	for _, f := range append(all[1], all[0]...) {
		if f.Kind == "native" {
			fns = append(fns, f.Function)
		}
	}
	var want []string
	for _, f := range native {
		want = append(want, f.sym.Function)
	}
	if g, w := strings.Join(fns, ","), strings.Join(want, ","); g != w {
		t.Errorf("native frames of both: %s, want %s", g, w)
	}
	// A shim in no eval frame's stack: no guess.
	bad := outer
	bad.frames = append([]model.Frame{}, outer.frames...)
	bad.frames[0].Shim = 0x1000
	if _, _, err := merge(native, []stack{bad, inner}, false, false); err == nil {
		t.Error("unpaired run merged")
	}
	// Interleaved interpreters are not nested: refused.
	mixed := stack{frames: []model.Frame{{Function: "x", Entry: true, Shim: 0x148}}}
	rest := stack{frames: []model.Frame{{Function: "y", Entry: true, Shim: 0x128}, {Function: "z", Entry: true, Shim: 0x188}}, empty: []uint64{0x168}}
	if _, _, err := merge(native, []stack{mixed, rest}, false, false); err == nil {
		t.Error("interleaved interpreters merged")
	}
}

// TestMergeCut: an unwind that stopped early (a kernel without CFI) holds
// the innermost frames only; the runs whose eval loops lie beyond it follow
// the last native frame, which is marked, by count (3.10, 3.11) and by
// shim (3.12+). A run missing inside the stack is still refused.
func TestMergeCut(t *testing.T) {
	lib, blas := "/usr/lib/libpython3.12.so", "/x/libopenblas.so"
	py := []model.Frame{{Function: "a"}, {Function: "b", Entry: true, Shim: 0x128}, {Function: "c", Entry: true, Shim: 0x148}}
	for _, tc := range []struct {
		name   string
		native []nframe
		want   string
	}{
		{"no eval frame", []nframe{on(nf("dgemm_kernel", blas), 0x100)}, "dgemm_kernel,a,b,c"},
		{"one eval frame", []nframe{on(nf("dgemm_kernel", blas), 0x100), on(nf("matmul", blas), 0x110),
			on(nf("_PyEval_EvalFrameDefault", lib), 0x120), on(nf("PyObject_Call", lib), 0x130)}, "dgemm_kernel,matmul,a,b,PyObject_Call,c"},
	} {
		for _, shims := range []bool{true, false} {
			stk := stack{frames: append([]model.Frame{}, py...)}
			if !shims {
				for i := range stk.frames {
					stk.frames[i].Shim = 0
				}
			}
			if _, _, err := merge(tc.native, []stack{stk}, false, false); err == nil {
				t.Errorf("%s: merged without cut", tc.name)
			}
			got, _, err := merge(tc.native, []stack{stk}, false, true)
			if err != nil {
				t.Fatalf("%s (shims %v): %v", tc.name, shims, err)
			}
			if g := names(got[0]); g != tc.want {
				t.Errorf("%s (shims %v): %s, want %s", tc.name, shims, g, tc.want)
			}
			var stopped []string
			for _, f := range got[0] {
				if f.UnwindStopped {
					stopped = append(stopped, f.Function)
				}
			}
			if last := tc.native[len(tc.native)-1].sym.Function; len(stopped) != 1 || stopped[0] != last {
				t.Errorf("%s (shims %v): marked %v, want %s", tc.name, shims, stopped, last)
			}
		}
	}
	// The unwind stopped at an eval frame it could not step (CFA
	// unknown): that frame pairs with nothing, and every run follows it.
	unknown := on(nf("_PyEval_EvalFrameDefault", lib), 0x120)
	unknown.cfa = 0
	stuck := []nframe{on(nf("dgemm_kernel", blas), 0x100), unknown}
	got, _, err := merge(stuck, []stack{{frames: py}}, false, true)
	if err != nil {
		t.Fatalf("cut at an eval frame of unknown CFA: %v", err)
	}
	if g, w := names(got[0]), "dgemm_kernel,_PyEval_EvalFrameDefault,a,b,c"; g != w {
		t.Errorf("cut at an eval frame of unknown CFA: %s, want %s", g, w)
	}
	if _, _, err := merge(stuck, []stack{{frames: py}}, false, false); err == nil {
		t.Error("an eval frame of unknown CFA paired without cut")
	}
	// The eval frame seen runs the outer run, not the inner one: refused.
	wrong := []nframe{on(nf("dgemm_kernel", blas), 0x100), on(nf("_PyEval_EvalFrameDefault", lib), 0x140)}
	if _, _, err := merge(wrong, []stack{{frames: py}}, false, true); err == nil {
		t.Error("a cut stack missing an inner run merged")
	}
}

func TestSyscallName(t *testing.T) {
	for nr, want := range map[int]string{0: "read", 202: "futex", 34: "pause", 230: "clock_nanosleep", 99999: "syscall_99999"} {
		if got := SyscallName(target.AMD64, nr); got != want {
			t.Errorf("SyscallName(%d) = %q, want %q", nr, got, want)
		}
	}
}

// TestMergeThreadNoNativeFrames: an unwind that gave no frame at all (an
// arm64 core: "not supported") leaves the Python stack whole, with no
// warning beyond prepare's; merge itself words a refusal without native
// frames for what it is.
func TestMergeThreadNoNativeFrames(t *testing.T) {
	py := []model.Frame{{Function: "a"}, {Function: "b", Entry: true}}
	th := &model.Thread{Frames: append([]model.Frame{}, py...)}
	rt := &rawThread{hasReg: true, sysNr: -1, err: errors.New("native stacks of arm64 are not supported")}
	s := &Session{}
	got := s.mergeThread([]*model.Thread{th}, nil, rt)
	if len(got) != 1 || got[0] != th {
		t.Fatalf("threads %v", got)
	}
	if len(th.Warnings) != 0 || th.NativeFrames != nil {
		t.Errorf("warnings %q, native frames %v: want none", th.Warnings, th.NativeFrames)
	}
	if g, w := names(th.Frames), "a,b"; g != w {
		t.Errorf("frames %s, want %s", g, w)
	}
	_, _, err := merge(nil, []stack{{frames: py}}, false, true)
	if err == nil || strings.Contains(err.Error(), "thread states") || !strings.Contains(err.Error(), "1 run of") {
		t.Errorf("merge without native frames: %v", err)
	}
	two := append(append([]model.Frame{}, py...), model.Frame{Function: "c", Entry: true})
	_, _, err = merge(nil, []stack{{frames: two}}, false, true)
	if err == nil || strings.Contains(err.Error(), "thread states") || !strings.Contains(err.Error(), "2 runs of") {
		t.Errorf("merge without native frames: %v", err)
	}
}

// TestMergeThreadCutOnlyWhenStopped: only an unwind that stopped early
// (unwind.ErrStopped) places Python frames beyond its last native frame;
// an error of any other kind is no licence to.
func TestMergeThreadCutOnlyWhenStopped(t *testing.T) {
	blas := "/x/libopenblas.so"
	py := []model.Frame{{Function: "a"}, {Function: "b", Entry: true}}
	for _, tc := range []struct {
		err    error
		merged bool
	}{
		{fmt.Errorf("unwind stopped at 0x10: %w", unwind.ErrStopped), true},
		{errors.New("some other failure"), false},
	} {
		th := &model.Thread{Frames: append([]model.Frame{}, py...)}
		rt := &rawThread{hasReg: true, sysNr: -1, err: tc.err}
		(&Session{}).mergeThread([]*model.Thread{th}, []nframe{nf("dgemm_kernel", blas)}, rt)
		merged := len(th.Warnings) == 0 && names(th.Frames) == "dgemm_kernel,a,b"
		if merged != tc.merged {
			t.Errorf("%v: frames %s, warnings %q; merged %v, want %v", tc.err, names(th.Frames), th.Warnings, merged, tc.merged)
		}
	}
}
