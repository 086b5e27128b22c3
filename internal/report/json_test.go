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
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&s); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := JSON(&got, &s); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("pid %d:\n got %s\nwant %s", s.PID, got.String(), want.String())
		}
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
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&s); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := JSON(&got, &s); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("\n got %s\nwant %s", got.String(), want.String())
	}
}
