package cpython

import (
	"fmt"
	"strings"

	"pyscope/internal/model"
)

// future decodes an asyncio Future or Task as asyncio's repr shows it
// (base_futures._future_repr_info, base_tasks._task_repr_info): state,
// name, coroutine, what it waits for, result or exception, callbacks.
func (st *decoding) future(addr uint64, tn string, depth int) *model.Value {
	v := &Values{r: st.r, o: st.o, dec: st.Decoder}
	f, err := v.Future(addr)
	if err != nil {
		return errValue(addr, tn, err)
	}
	class := tn
	if i := strings.LastIndexByte(class, '.'); i >= 0 {
		class = class[i+1:]
	}
	fv := &model.FutureValue{Class: class, State: f.State.String(), Task: f.IsTask, Name: f.Name}
	if f.Cancelling {
		fv.State = "cancelling"
	}
	if f.IsTask && f.Coro != 0 {
		fv.Coro = st.coroString(v, f.Coro)
	}
	if f.Waiter != 0 {
		fv.WaitFor = st.value(f.Waiter, depth+1)
	}
	if f.Exc != 0 {
		fv.Exception = st.value(f.Exc, depth+1)
	} else if f.State == FutureFinished && f.Result != 0 {
		fv.Result = st.value(f.Result, depth+1)
	}
	cbs := f.Callbacks
	if n := len(cbs); n > 2 {
		cbs = []uint64{cbs[0], cbs[n-1]}
		fv.Callbacks = []string{st.callbackString(v, cbs[0]), fmt.Sprintf("<%d more>", n-2), st.callbackString(v, cbs[1])}
	} else {
		for _, cb := range cbs {
			fv.Callbacks = append(fv.Callbacks, st.callbackString(v, cb))
		}
	}
	st.charge(256)
	return &model.Value{Kind: model.ValueFuture, Type: tn, Addr: addr, Future: fv}
}

// coroString formats a coroutine as asyncio's _format_coroutine does:
// "main() running at app.py:12", or "main() done, defined at app.py:10".
func (st *decoding) coroString(v *Values, coro uint64) string {
	_, ti := st.typeOf(coro)
	name := ""
	if ti.kind == model.ValueGenerator {
		name, _ = st.strField(coro, st.o.L.Gen.Qualname, "qualname")
	}
	if name == "" {
		return fmt.Sprintf("<%s without __name__>()", ti.name)
	}
	name += "()"
	g, err := v.gen(coro, false)
	if err != nil {
		return name
	}
	if g.State != GenDone {
		fr, err := st.r.resolveFrames([]rawFrame{g.Frame.raw})
		if err == nil && len(fr) == 1 {
			return fmt.Sprintf("%s running at %s:%d", name, fr[0].File, fr[0].Line)
		}
		return name
	}
	if code := st.genCode(coro); code != 0 {
		if c := st.r.code(code); c.err == nil {
			return fmt.Sprintf("%s done, defined at %s:%d", name, c.file, c.firstLine)
		}
	}
	return name
}

// genCode is a generator's code object (gi_code).
func (st *decoding) genCode(gen uint64) uint64 {
	L := st.o.L
	var p uint64
	var err error
	switch {
	case L.Gen.Code.Valid():
		p, err = st.o.u64(gen + uint64(L.Gen.Code))
	case L.Gen.IFrame.Valid() && L.Frame.Executable.Valid():
		p, err = st.o.u64(gen + uint64(L.Gen.IFrame) + uint64(L.Frame.Executable))
		p &^= 3
	}
	if err != nil || !validPtr(p) {
		return 0
	}
	return p
}

// callbackString formats a done callback as asyncio's
// format_helpers._format_callback_source does: "Task.task_wakeup()",
// "f() at app.py:3", "_release_waiter(<Future pending>)() at …".
func (st *decoding) callbackString(v *Values, cb uint64) string {
	o := st.o
	L := o.L
	suffix := "()"
	read := func(obj uint64, off int64) uint64 {
		if off < 0 {
			return 0
		}
		p, err := o.u64(obj + uint64(off))
		if err != nil || !validPtr(p) {
			return 0
		}
		return p
	}
	name := v.TypeName(cb)
	if name == "functools.partial" {
		args := ""
		if a := read(cb, int64(L.Partial.Args)); a != 0 {
			if items, err := o.TupleItems(a); err == nil {
				var parts []string
				for _, it := range items {
					parts = append(parts, reprlibCut(Repr(st.value(it, st.lim.MaxDepth-1), st.lim), 30))
				}
				args = strings.Join(parts, ", ")
			}
		}
		suffix = "(" + args + ")" + suffix
		cb = read(cb, int64(L.Partial.Fn))
		if cb == 0 {
			return "functools.partial" + suffix
		}
		name = v.TypeName(cb)
	}
	switch name {
	case "function":
		q, _ := st.strField(cb, L.Func.Qualname, "qualname")
		s := q + suffix
		if code := read(cb, int64(L.Func.Code)); code != 0 {
			if c := st.r.code(code); c.err == nil {
				s += fmt.Sprintf(" at %s:%d", c.file, c.firstLine)
			}
		}
		return s
	case "method":
		if fn := read(cb, int64(L.Method.Func)); fn != 0 && v.TypeName(fn) == "function" {
			q, _ := st.strField(fn, L.Func.Qualname, "qualname")
			return q + suffix
		}
	case "builtin_function_or_method":
		bv := st.value(cb, st.lim.MaxDepth)
		if bv.Kind == model.ValueBuiltin {
			if bv.Self == 0 || bv.Module == "" {
				return bv.Name + suffix
			}
			return typeQualname(bv.Module) + "." + bv.Name + suffix
		}
	}
	return Repr(st.value(cb, st.lim.MaxDepth-1), st.lim) + suffix
}

// typeQualname is a type's __qualname__ from its tp_name (C types).
func typeQualname(tpName string) string {
	if i := strings.LastIndexByte(tpName, '.'); i >= 0 {
		return tpName[i+1:]
	}
	return tpName
}

// reprlibCut shortens a repr as reprlib.Repr.repr_instance does.
func reprlibCut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	i := max(0, (n-3)/2)
	j := max(0, n-3-i)
	return string(r[:i]) + "..." + string(r[len(r)-j:])
}
