package redact

import (
	"strings"
	"unicode"
)

// Bounds on what a text's scan looks at: keys longer than maxKey are not
// names, and a text longer than maxScan (the decoder's string limit is far
// lower) is scanned in its first maxScan characters only.
const (
	maxKey  = 64
	maxScan = 1 << 20
)

// Hidden finds the secrets held inside a text rather than under a name,
// as Sentry's data scrubbing does in strings: the value of a key=value
// pair whose key says secret (a query string, a request line, a form body,
// a Cookie header: "?api_key=…", "sessionid=…; csrftoken=…"), the value
// of a "Name: value" line whose name says secret (a raw HTTP header:
// "Authorization: Basic …"), a URL's password ("postgres://u:…@host") and
// a bearer token ("Bearer …"). It returns the parts to leave out as
// [from, to) indices of s, in order and disjoint; none under None.
func (p *Policy) Hidden(s []rune) [][2]int {
	if p == nil {
		p = defaultPolicy()
	}
	if p.off {
		return nil
	}
	s = s[:min(len(s), maxScan)]
	var out [][2]int
	add := func(from, to int) {
		if from >= to {
			return
		}
		if n := len(out); n > 0 && from <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], to)
			return
		}
		out = append(out, [2]int{from, to})
	}
	lineStart := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\n':
			lineStart = i + 1
		case c == '=':
			if k := keyStart(s, i); k < i && p.Secret(string(s[k:i])) {
				add(i+1, valueEnd(s, i+1, "&; \t\r\n,'\""))
			}
		case c == ':' && i > lineStart:
			switch {
			case i+2 < len(s) && s[i+1] == '/' && s[i+2] == '/':
				from, to := urlPassword(s, i+3)
				add(from, to)
			case keyStart(s, i) == lineStart && p.Secret(string(s[lineStart:i])):
				j := i + 1
				for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
					j++
				}
				add(j, valueEnd(s, j, "\r\n"))
			}
		case (c == 'B' || c == 'b') && bearerAt(s, i):
			j := i + len("bearer")
			for j < len(s) && s[j] == ' ' {
				j++
			}
			add(j, valueEnd(s, j, " \t\r\n,;'\""))
		}
	}
	return out
}

// keyStart is where the name that ends at end begins: the longest run of
// name characters before it, none when the run is longer than maxKey.
func keyStart(s []rune, end int) int {
	k := end
	for k > 0 && end-k <= maxKey && keyRune(s[k-1]) {
		k--
	}
	if end-k > maxKey {
		return end
	}
	return k
}

func keyRune(c rune) bool {
	return c == '_' || c == '-' || c == '.' || c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c))
}

// valueEnd is where a value that starts at from ends: at the first of
// stops, or the end of s.
func valueEnd(s []rune, from int, stops string) int {
	j := from
	for j < len(s) && !strings.ContainsRune(stops, s[j]) {
		j++
	}
	return j
}

// urlPassword finds the password of the URL authority that starts at
// from (after "://"): in user:password@host, the part between the first
// colon and the last @ before the path.
func urlPassword(s []rune, from int) (int, int) {
	end := valueEnd(s, from, "/?# \t\r\n'\"")
	at := -1
	for j := from; j < end; j++ {
		if s[j] == '@' {
			at = j
		}
	}
	if at < 0 {
		return 0, 0
	}
	for j := from; j < at; j++ {
		if s[j] == ':' {
			return j + 1, at
		}
	}
	return 0, 0
}

// bearerAt reports whether s holds, at i, the word "bearer" (any case)
// followed by a space and something more.
func bearerAt(s []rune, i int) bool {
	const w = "bearer"
	if i > 0 && keyRune(s[i-1]) || i+len(w)+1 >= len(s) {
		return false
	}
	for k, c := range w {
		if unicode.ToLower(s[i+k]) != c {
			return false
		}
	}
	return s[i+len(w)] == ' ' && s[i+len(w)+1] != ' '
}
