// Package wtf8 is Go text that may hold lone surrogates, as a Python str
// may ('a\udc80b': a thread name, or a file name decoded with
// surrogateescape). UTF-8 has no form for U+D800–U+DFFF, and Go's string
// conversion makes them U+FFFD; here each keeps its three-byte
// generalized UTF-8 form (ED A0–BF 80–BF, as WTF-8 writes it), so the
// text output can escape it as repr() does and JSON can choose.
package wtf8

import "unicode/utf8"

// FromRunes is the text of a str's code points. A surrogate is written on
// its own even when it follows another (Python's '\ud83d\ude00' is two
// code points, not an emoji); a code point no str can hold is U+FFFD.
func FromRunes(rs []rune) string {
	n := 0
	for _, r := range rs {
		if isSurrogate(r) {
			n += 3
		} else {
			n += utf8.RuneLen(r)
		}
	}
	b := make([]byte, 0, max(n, 0))
	for _, r := range rs {
		if isSurrogate(r) {
			b = append(b, 0xed, 0xa0|byte(r>>6)&0x1f, 0x80|byte(r)&0x3f)
			continue
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

func isSurrogate(r rune) bool { return r >= 0xd800 && r <= 0xdfff }

// Surrogate reports whether s starts with a surrogate's three-byte form,
// and which.
func Surrogate(s string) (rune, bool) {
	if len(s) < 3 || s[0] != 0xed || s[1] < 0xa0 || s[1] > 0xbf || s[2] < 0x80 || s[2] > 0xbf {
		return 0, false
	}
	return 0xd000 | rune(s[1]&0x3f)<<6 | rune(s[2]&0x3f), true
}

// Next is the first character of s and its size: a code point, a lone
// surrogate, or one byte of anything else (utf8.RuneError, 1).
func Next(s string) (rune, int) {
	if r, ok := Surrogate(s); ok {
		return r, 3
	}
	return utf8.DecodeRuneInString(s)
}

// Len is the number of characters of s as Python counts them: code
// points, lone surrogates included; any other invalid byte counts one.
func Len(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
		} else {
			_, sz := Next(s[i:])
			i += sz
		}
		n++
	}
	return n
}

// Prefix is s cut after n characters (as Len counts them).
func Prefix(s string, n int) string {
	i := 0
	for ; n > 0 && i < len(s); n-- {
		if s[i] < utf8.RuneSelf {
			i++
		} else {
			_, sz := Next(s[i:])
			i += sz
		}
	}
	return s[:i]
}

// ToUTF8 is s with each lone surrogate replaced by U+FFFD, one for one,
// and nothing else changed: valid UTF-8 when s was generalized UTF-8.
func ToUTF8(s string) string {
	i := 0
	for ; i < len(s); i++ {
		if s[i] == 0xed {
			if _, ok := Surrogate(s[i:]); ok {
				break
			}
		}
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for i < len(s) {
		if _, ok := Surrogate(s[i:]); ok {
			b = append(b, "\uFFFD"...)
			i += 3
			continue
		}
		b = append(b, s[i])
		i++
	}
	return string(b)
}
