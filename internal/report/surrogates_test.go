package report

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"pyscope/internal/model"
	"pyscope/internal/wtf8"
)

// A lone surrogate is escaped as repr() escapes it, a pair as two.
func TestSafeSurrogates(t *testing.T) {
	s := wtf8.FromRunes([]rune{'a', 0xdc80, 'b', 0xd83d, 0xde00, '\x1b'})
	if got, want := Safe(s), `a\udc80b\ud83d\ude00\x1b`; got != want {
		t.Errorf("Safe: %q, want %q", got, want)
	}
}

// JSON is valid UTF-8 with one U+FFFD per lone surrogate, on every path:
// the streamed threads and frames, frames with variables (encoding/json),
// and documents written whole.
func TestJSONSurrogates(t *testing.T) {
	sur := wtf8.FromRunes([]rune{'n', 0xdc80, 0xd800})
	want := "n\ufffd\ufffd"
	frames := []model.Frame{
		{Kind: "python", Function: sur, File: sur, Line: 1},
		{Kind: "python", Function: sur, File: sur, Line: 2, Locals: []model.Local{{Kind: "local", Name: sur, Repr: "1"}}},
	}
	s := &model.Snapshot{PID: 1, Source: "live", Threads: []model.Thread{{ThreadID: 1, Name: &sur, Frames: frames, Error: "bad \xff"}},
		Tasks: []model.Task{{ID: 2, Name: sur, Coroutine: frames[:1]}}}
	var streamed, whole bytes.Buffer
	if err := JSON(&streamed, s); err != nil {
		t.Fatal(err)
	}
	if err := JSONValue(&whole, s); err != nil {
		t.Fatal(err)
	}
	if streamed.String() != whole.String() {
		t.Errorf("JSON and JSONValue differ:\n%s\n%s", streamed.String(), whole.String())
	}
	if !utf8.Valid(streamed.Bytes()) {
		t.Errorf("not valid UTF-8: %q", streamed.String())
	}
	var d model.Snapshot
	if err := json.Unmarshal(streamed.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	th := d.Threads[0]
	for what, got := range map[string]string{"name": *th.Name, "function": th.Frames[0].Function, "file": th.Frames[1].File,
		"local": th.Frames[1].Locals[0].Name, "task": d.Tasks[0].Name} {
		if got != want {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	if th.Error != "bad \ufffd" {
		t.Errorf("a byte that is not UTF-8: %q", th.Error)
	}
	if *s.Threads[0].Name != sur {
		t.Error("JSON changed the snapshot")
	}
}
