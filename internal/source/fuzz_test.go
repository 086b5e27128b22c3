package source

import (
	"bytes"
	"strings"
	"testing"

	"pyscope/internal/fuzzguard"
)

// FuzzDecode: source files are the target's bytes. Detection and decoding
// must never panic, must grow the text boundedly, and must leave a file
// Python reads as UTF-8 as it is.
func FuzzDecode(f *testing.F) {
	for _, c := range detectCases {
		f.Add([]byte(c.src))
	}
	for _, s := range moreSources {
		f.Add([]byte(s))
	}
	fuzzguard.Fuzz(f, func(t *testing.T, src []byte) {
		enc := DetectEncoding(src)
		text := Decode(src)
		if len(text) > 4*len(src)+4 {
			t.Fatalf("%d bytes decode to %d", len(src), len(text))
		}
		if enc == "utf-8" || enc == "utf-8-sig" {
			if text != string(bytes.TrimPrefix(src, bomUTF8)) {
				t.Fatalf("%s source changed by decoding: %q -> %q", enc, src, text)
			}
		}
		if strings.Contains(enc, "\n") {
			t.Fatalf("encoding name %q spans lines", enc)
		}
		if Decode(src) != text {
			t.Fatal("decoding is not deterministic")
		}
	})
}
