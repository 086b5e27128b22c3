package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"pyscope/internal/model"
)

// JSON writes threads one by one; its bytes must be encoding/json's for
// the whole document, whatever the snapshot holds: text that JSON or HTML
// escapes, a "threads" key nested elsewhere, no threads at all.
func TestJSONStreamsTheSameBytes(t *testing.T) {
	name := `a "quoted" <name> & \ ` + "\u2028\x01é"
	line := 7
	frames := []model.Frame{{Kind: "python", Function: "f<&>", File: `/srv/"x".py`, Line: 3, EndLine: &line}, {Kind: "python", Function: "g"}}
	threads := []model.Thread{
		{ThreadID: 1, NativeID: 10, Name: &name, IsMain: true, Frames: frames},
		{ThreadID: 2, Frames: nil, Error: "unreadable \xff"},
		{ThreadID: 3, Frames: frames, WaitingFor: &model.Wait{Kind: "lock", Repr: `<unlocked _thread.lock object at 0x1>`}},
	}
	for _, s := range []model.Snapshot{
		{PID: 1, Source: "live", Python: model.Python{Version: "3.14.6"}, Threads: threads, Warnings: []string{`"threads":[`}},
		{PID: 2, Source: "core", Threads: threads[:1], Deadlocks: []model.Deadlock{{Threads: []uint64{1, 2}, Objects: []uint64{3}}}},
		{PID: 3, Source: "live", Threads: threads, Deadlocks: []model.Deadlock{{Threads: []uint64{}, Objects: nil}}},
		{PID: 4, Source: "live"},
		{PID: 5, Source: "live", Threads: []model.Thread{}},
	} {
		checkAsEncodingJSON(t, &s)
	}
}

// JSON writes frames without encoding/json (frameWriter): every field of
// model.Frame, set alone and all together, must come out as encoding/json
// writes it, so that a field added to Frame and not to frameWriter fails
// here.
func TestJSONFramesAsEncodingJSON(t *testing.T) {
	ft := reflect.TypeFor[model.Frame]()
	set := func(f *model.Frame, i int) {
		v := reflect.ValueOf(f).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString("s" + ft.Field(i).Name + "<é>")
		case reflect.Int:
			v.SetInt(int64(i + 1))
		case reflect.Uint64:
			v.SetUint(uint64(1) << 40)
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Pointer:
			p := reflect.New(v.Type().Elem()) // zero, yet present
			if p.Elem().CanUint() {
				p.Elem().SetUint(7)
			}
			v.Set(p)
		case reflect.Slice:
			v.Set(reflect.ValueOf([]model.Local{{Name: "x", Repr: "1"}}))
		default:
			t.Fatalf("model.Frame.%s: a kind (%s) this test cannot set", ft.Field(i).Name, v.Kind())
		}
	}
	var frames []model.Frame
	all := model.Frame{Kind: "python"}
	for i := 0; i < ft.NumField(); i++ {
		f := model.Frame{Kind: "python", Function: "f", File: "/a.py", Line: 1}
		set(&f, i)
		set(&all, i)
		frames = append(frames, f)
	}
	frames = append(frames, all, model.Frame{Function: "q\"\\\x7f\n", File: "\xff"})
	s := model.Snapshot{PID: 1, Source: "live", Threads: []model.Thread{{ThreadID: 1, Frames: frames}, {ThreadID: 2, Frames: frames[:1]}}}
	checkAsEncodingJSON(t, &s)
}

// fill sets every field of v, recursively, to a value that encoding/json
// writes (not zero, or zero behind a pointer): strings that need no
// escape and some that do, one element per slice.
func fill(t *testing.T, v reflect.Value, odd bool) {
	if v.Type() == reflect.TypeFor[model.Local]() {
		// Variables go through encoding/json whole: one will do.
		v.Set(reflect.ValueOf(model.Local{Name: "x", Kind: "local", Type: "int"}))
		return
	}
	switch v.Kind() {
	case reflect.String:
		if odd {
			v.SetString("<é\"\\\n>")
		} else {
			v.SetString("plain")
		}
	case reflect.Int, reflect.Int64:
		v.SetInt(-3)
	case reflect.Uint64:
		v.SetUint(1 << 40)
	case reflect.Uint8:
		v.SetUint(1)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), odd)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(t, s.Index(0), odd)
		v.Set(s)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i), odd)
			}
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, odd)
		fill(t, e, odd)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Int32, reflect.Int8, reflect.Int16:
		v.SetInt(-3)
	case reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uintptr:
		v.SetUint(9)
	case reflect.Float64, reflect.Float32:
		v.SetFloat(1.5)
	case reflect.Interface:
		v.Set(reflect.ValueOf("any"))
	default:
		t.Fatalf("%s: a kind this test cannot fill", v.Type())
	}
}

// JSON writes threads without encoding/json too: each field of
// model.Thread set alone, and all of them, must come out as encoding/json
// writes them.
func TestJSONThreadsAsEncodingJSON(t *testing.T) {
	tt := reflect.TypeFor[model.Thread]()
	var threads []model.Thread
	for _, odd := range []bool{false, true} {
		var all model.Thread
		fill(t, reflect.ValueOf(&all).Elem(), odd)
		threads = append(threads, all)
		for i := 0; i < tt.NumField(); i++ {
			th := model.Thread{ThreadID: uint64(i), Frames: []model.Frame{{Kind: "python"}}}
			fill(t, reflect.ValueOf(&th).Elem().Field(i), odd)
			threads = append(threads, th)
		}
	}
	empty := model.Thread{ThreadID: 1, Frames: []model.Frame{}, Holds: []model.Held{}, Warnings: []string{}, NativeFrames: []model.Frame{},
		WaitingFor: &model.Wait{HeldBy: []uint64{}}}
	threads = append(threads, empty, model.Thread{WaitingFor: &model.Wait{}})
	s := model.Snapshot{PID: 1, Source: "live", Threads: threads}
	checkAsEncodingJSON(t, &s)
}

// And each field of model.Snapshot, set alone and all together.
func TestJSONSnapshotsAsEncodingJSON(t *testing.T) {
	st := reflect.TypeFor[model.Snapshot]()
	var snaps []model.Snapshot
	for _, odd := range []bool{false, true} {
		var all model.Snapshot
		fill(t, reflect.ValueOf(&all).Elem(), odd)
		snaps = append(snaps, all)
		for i := 0; i < st.NumField(); i++ {
			s := model.Snapshot{PID: i, Threads: []model.Thread{{ThreadID: 1}}}
			fill(t, reflect.ValueOf(&s).Elem().Field(i), odd)
			snaps = append(snaps, s)
		}
	}
	snaps = append(snaps, model.Snapshot{Threads: []model.Thread{{}}, Tasks: []model.Task{}, TaskCycles: [][]uint64{}, Greenlets: []model.Greenlet{},
		Warnings: []string{}, Deadlocks: []model.Deadlock{}})
	for _, s := range snaps {
		checkAsEncodingJSON(t, &s)
	}
}

// checkAsEncodingJSON: JSON writes the bytes encoding/json writes for s.
func checkAsEncodingJSON(t *testing.T, s *model.Snapshot) {
	t.Helper()
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := JSON(&got, s); err != nil {
		t.Fatal(err)
	}
	if g, w := got.String(), want.String(); g != w {
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		t.Errorf("pid %d: differ at byte %d:\n got …%s\nwant …%s", s.PID, i, g[max(0, i-80):min(len(g), i+80)], w[max(0, i-80):min(len(w), i+80)])
	}
}
