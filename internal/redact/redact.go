// Package redact decides which of a target's values pyscope keeps out of
// its output: those held under a name that says secret (a variable, an
// attribute, a dict key), and the contents of process environments.
package redact

import (
	"strings"
	"sync"
	"unicode"
)

// Marker stands for a value left out. Like the abbreviations of reprs it
// is written outside any literal: {'password': …(redacted)}.
const Marker = "…(redacted)"

// sentryDenylist is Sentry's default scrubbing list: DEFAULT_DENYLIST and
// DEFAULT_PII_DENYLIST of the Python SDK, sentry_sdk/scrubber.py
// (https://github.com/getsentry/sentry-python/blob/master/sentry_sdk/scrubber.py),
// itself taken from Relay's defaults.
var sentryDenylist = []string{
	"password", "passwd", "secret", "api_key", "apikey", "auth", "credentials",
	"mysql_pwd", "privatekey", "private_key", "token", "session",
	"csrftoken", "sessionid", // Django
	"x_csrftoken", "x_forwarded_for", "set_cookie", "cookie", "authorization", "x_api_key", // WSGI
	"aiohttp_session", "connect.sid", "csrf_token", "csrf", "_csrf", "_csrf_token", "PHPSESSID",
	"_session", "symfony", "user_session", "_xsrf", "XSRF-TOKEN",
	"x_real_ip", "ip_address", "remote_addr", // PII
}

// extraDenylist are names Sentry's list lacks that carry credentials in
// their value: a bearer token, a DSN or database URL (user:password@host).
var extraDenylist = []string{"bearer", "dsn", "database_url"}

// substrings are denied also inside a longer word (dbpassword,
// mysecretvalue); short or common words (auth, token, session) only as
// whole words, lest author or tokenizer be hidden.
var substrings = []string{"password", "passwd", "secret", "apikey", "privatekey"}

// environNames hold a process or request environment: every value of such
// a mapping is left out, except the few keys environKeysShown names.
var environNames = []string{"environ", "environb", "env", "environment", "META"}

// environKeysShown are the keys of an environment (WSGI environ, Django's
// request.META) that describe the request and carry no credential. Sentry
// likewise keeps only SERVER_NAME and SERVER_PORT of a WSGI environ, and
// the method and URL apart.
var environKeysShown = map[string]bool{
	"REQUEST_METHOD": true, "SCRIPT_NAME": true, "PATH_INFO": true, "SERVER_NAME": true,
	"SERVER_PORT": true, "SERVER_PROTOCOL": true, "wsgi.version": true, "wsgi.url_scheme": true,
	"wsgi.multithread": true, "wsgi.multiprocess": true, "wsgi.run_once": true,
}

// Policy is a set of names whose values are left out. The nil Policy is
// Default; None leaves nothing out.
type Policy struct {
	off     bool
	entries [][]string // each entry as words
	environ map[string]bool
}

// defaultPolicy is built on first use, not at every start of pyscope.
var defaultPolicy = sync.OnceValue(func() *Policy { return build(nil) })

// Default is Sentry's list and pyscope's additions.
func Default() *Policy { return defaultPolicy() }

// None is --no-redact: every value is shown.
func None() *Policy { return &Policy{off: true} }

// With returns the policy extended by more names (--redact-keys).
func (p *Policy) With(names []string) *Policy {
	if p == nil {
		p = defaultPolicy()
	}
	if p.off {
		return p
	}
	return build(append(p.names(), names...))
}

func build(more []string) *Policy {
	p := &Policy{environ: map[string]bool{}}
	all := append(append(append([]string{}, sentryDenylist...), extraDenylist...), more...)
	seen := map[string]bool{}
	for _, n := range all {
		w := Words(n)
		key := strings.Join(w, " ")
		if len(w) == 0 || seen[key] {
			continue
		}
		seen[key] = true
		p.entries = append(p.entries, w)
	}
	for _, n := range environNames {
		p.environ[n] = true
	}
	return p
}

func (p *Policy) names() []string {
	var out []string
	for _, e := range p.entries {
		out = append(out, strings.Join(e, "_"))
	}
	return out
}

// Off reports whether the policy leaves nothing out.
func (p *Policy) Off() bool { return p != nil && p.off }

// Secret reports whether a value held under name is left out: name, split
// into words (snake_case, camelCase, kebab-case, dotted), contains a
// denied entry as whole words ("db_password", "apiKey", "HTTP_COOKIE",
// "x-csrftoken"), a plural of a one-word entry ("tokens"), or one of the
// unambiguous words inside a longer one ("dbpassword").
func (p *Policy) Secret(name string) bool {
	if p == nil {
		p = defaultPolicy()
	}
	if p.off || name == "" {
		return false
	}
	words := Words(name)
	for _, e := range p.entries {
		if containsRun(words, e) {
			return true
		}
	}
	for _, w := range words {
		for _, s := range substrings {
			if strings.Contains(w, s) {
				return true
			}
		}
	}
	return false
}

// containsRun reports whether words holds entry as consecutive words; a
// one-word entry also matches its plural.
func containsRun(words, entry []string) bool {
	for i := 0; i+len(entry) <= len(words); i++ {
		match := true
		for j, e := range entry {
			w := words[i+j]
			if w != e && !(len(entry) == 1 && w == e+"s") {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// Environ reports whether a mapping held under name is an environment
// (os.environ, a WSGI environ, Django's request.META): its values are left
// out but for EnvironKeyShown's.
func (p *Policy) Environ(name string) bool {
	if p == nil {
		p = defaultPolicy()
	}
	return !p.off && p.environ[name]
}

// EnvironKeyShown reports whether an environment's value under key is
// shown: only keys that describe a request.
func EnvironKeyShown(key string) bool { return environKeysShown[key] }

// EnvironMarkers are keys that make a dict an environment whatever its
// name: any one of request's (a WSGI environ, and so Django's META, has
// wsgi.version; a CGI one, as wsgiref's handlers keep before the wsgi.*
// keys are added, REQUEST_METHOD and GATEWAY_INTERFACE), or all of
// process's (a copy of a process environment has PATH and HOME).
func EnvironMarkers() (request, process []string) {
	return requestMarkers, processMarkers
}

var (
	requestMarkers = []string{"wsgi.version", "REQUEST_METHOD", "GATEWAY_INTERFACE"}
	processMarkers = []string{"PATH", "HOME"}
)

// Words splits a name into lower-case words at non-alphanumeric
// characters, at lower-to-upper case changes (apiKey), before the last
// capital of a run followed by a lower-case letter (APIKey), and between
// letters and digits.
func Words(name string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		if len(cur) > 0 {
			prev := cur[len(cur)-1]
			switch {
			case unicode.IsDigit(r) != unicode.IsDigit(prev):
				flush()
			case unicode.IsUpper(r) && unicode.IsLower(prev):
				flush()
			case unicode.IsUpper(r) && unicode.IsUpper(prev) && i+1 < len(rs) && unicode.IsLower(rs[i+1]):
				flush()
			}
		}
		cur = append(cur, r)
	}
	flush()
	return out
}
