package wtf8

import (
	"testing"
	"unicode/utf8"

	"pyscope/internal/fuzzguard"
)

// Each code point a str can hold comes back from the text, surrogates
// included, and Len counts it once.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{0x61, 0x00, 0x80, 0xdc, 0x3d, 0xd8, 0x00, 0xde})
	f.Add([]byte{0xff, 0xff, 0x10, 0x00})
	fuzzguard.Fuzz(f, func(t *testing.T, b []byte) {
		var rs []rune
		for i := 0; i+2 < len(b); i += 3 {
			rs = append(rs, rune(b[i])|rune(b[i+1])<<8|rune(b[i+2]&0x1f)<<16)
		}
		s := FromRunes(rs)
		if Len(s) != len(rs) {
			t.Fatalf("Len %d, want %d", Len(s), len(rs))
		}
		i := 0
		for k, r := range rs {
			got, n := Next(s[i:])
			want := r
			if !isSurrogate(r) && (r > utf8.MaxRune) {
				want = utf8.RuneError
			}
			if got != want {
				t.Fatalf("character %d: %U, want %U", k, got, want)
			}
			if Prefix(s, k) != s[:i] {
				t.Fatalf("Prefix(%d) is not the first %d characters", k, k)
			}
			i += n
		}
		if v := ToUTF8(s); !utf8.ValidString(v) || utf8.RuneCountInString(v) != len(rs) {
			t.Fatalf("ToUTF8 %q: not valid UTF-8 of %d characters", v, len(rs))
		}
	})
}

func TestSurrogates(t *testing.T) {
	s := FromRunes([]rune{'a', 0xdc80, 0xd83d, 0xde00, 'b'}) // a pair stays two
	if s != "a\xed\xb2\x80\xed\xa0\xbd\xed\xb8\x80b" {
		t.Errorf("FromRunes: % x", s)
	}
	if got := ToUTF8(s); got != "a\ufffd\ufffd\ufffdb" {
		t.Errorf("ToUTF8: %q", got)
	}
	if r, ok := Surrogate(s[1:]); !ok || r != 0xdc80 {
		t.Errorf("Surrogate: %U %v", r, ok)
	}
	// Other invalid bytes are left alone and count one each.
	if got := ToUTF8("\xed\x9f\xbf\xff"); got != "\xed\x9f\xbf\xff" || Len("\xff\xfe") != 2 {
		t.Errorf("ToUTF8 changed what is not a surrogate: %q", got)
	}
}
