package redact

import (
	"slices"
	"testing"

	"pyscope/internal/fuzzguard"
)

func TestWords(t *testing.T) {
	for name, want := range map[string][]string{
		"db_password":           {"db", "password"},
		"apiKey":                {"api", "key"},
		"APIKey":                {"api", "key"},
		"HTTP_X_CSRFTOKEN":      {"http", "x", "csrftoken"},
		"XSRF-TOKEN":            {"xsrf", "token"},
		"connect.sid":           {"connect", "sid"},
		"token2":                {"token", "2"},
		"__private_key__":       {"private", "key"},
		"":                      nil,
		"mot_de_passe_été":      {"mot", "de", "passe", "été"},
		"AWS_SECRET_ACCESS_KEY": {"aws", "secret", "access", "key"},
	} {
		if got := Words(name); !slices.Equal(got, want) {
			t.Errorf("Words(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestSecret(t *testing.T) {
	p := Default()
	secret := []string{
		// Sentry's list itself, in its own spelling.
		"password", "passwd", "secret", "api_key", "apikey", "auth", "credentials", "mysql_pwd",
		"privatekey", "private_key", "token", "session", "csrftoken", "sessionid", "x_csrftoken",
		"x_forwarded_for", "set_cookie", "cookie", "authorization", "x_api_key", "aiohttp_session",
		"connect.sid", "csrf_token", "csrf", "_csrf", "_csrf_token", "PHPSESSID", "_session",
		"symfony", "user_session", "_xsrf", "XSRF-TOKEN", "x_real_ip", "ip_address", "remote_addr",
		// Names that contain an entry.
		"db_password", "DB_PASSWORD", "dbPassword", "dbpassword", "SECRET_KEY", "AWS_SECRET_ACCESS_KEY",
		"apiKey", "APIKey", "GITHUB_TOKEN", "access_token", "accessToken", "refresh-token", "tokens",
		"HTTP_COOKIE", "HTTP_AUTHORIZATION", "HTTP_X_CSRFTOKEN", "COOKIES", "cookies", "session_id",
		"auth_header", "oauth_token", "privateKey", "client_secret", "secrets", "passwords",
		"SENTRY_DSN", "DATABASE_URL", "bearer",
	}
	shown := []string{
		"author", "authority", "authenticated", "tokenizer", "n", "self", "user", "username",
		"description", "path", "PATH", "HOME", "environ", "x",
	}
	for _, n := range secret {
		if !p.Secret(n) {
			t.Errorf("%q is not redacted", n)
		}
	}
	for _, n := range shown {
		if p.Secret(n) {
			t.Errorf("%q is redacted", n)
		}
	}
	var nilPolicy *Policy
	if !nilPolicy.Secret("password") {
		t.Error("the nil policy is not the default")
	}
	if None().Secret("password") || None().Environ("environ") {
		t.Error("None redacts")
	}
	more := p.With([]string{"internal_ref", "PIN"})
	for _, n := range []string{"internal_ref", "INTERNAL_REF", "card_pin", "password"} {
		if !more.Secret(n) {
			t.Errorf("--redact-keys: %q is not redacted", n)
		}
	}
	if p.Secret("card_pin") {
		t.Error("With changed the default policy")
	}
	if None().With([]string{"x"}).Secret("x") {
		t.Error("--no-redact with --redact-keys redacts")
	}
}

func TestEnviron(t *testing.T) {
	p := Default()
	for _, n := range []string{"environ", "env", "META", "environb", "environment"} {
		if !p.Environ(n) {
			t.Errorf("%q is not an environment", n)
		}
	}
	if p.Environ("meta") || p.Environ("data") {
		t.Error("not environments")
	}
	if !EnvironKeyShown("REQUEST_METHOD") || EnvironKeyShown("HTTP_COOKIE") || EnvironKeyShown("QUERY_STRING") {
		t.Error("EnvironKeyShown")
	}
}

// FuzzSecret: names come from the target (variables, attributes, keys):
// any string must be judged without a panic, and a name that contains an
// entry between separators must stay redacted.
func FuzzSecret(f *testing.F) {
	for _, s := range []string{"password", "db_password", "apiKey", "HTTP_COOKIE", "author", "", "\xff\xfe", "x-csrftoken", "ÉTÉ_TOKEN", "a.b-c_d", "tokenizer"} {
		f.Add(s)
	}
	p := Default()
	fuzzguard.Fuzz(f, func(t *testing.T, name string) {
		secret := p.Secret(name)
		p.Environ(name)
		Words(name)
		if secret && !p.Secret("x_"+name+"_y") {
			t.Errorf("%q is redacted, %q is not", name, "x_"+name+"_y")
		}
	})
}

// TestHidden: secrets inside a text, as real servers hold them: the value
// after a secret key, a URL's password, a header line's value, a bearer
// token; nothing else.
func TestHidden(t *testing.T) {
	p := Default()
	for text, want := range map[string][]string{
		"s=40&access_token=QS-SECRET-333":                                           {"QS-SECRET-333"},
		"GET /slow?api_key=K1&x=2 HTTP/1.1\r\n":                                     {"K1"},
		"/sleep?s=40&access_token=T2":                                               {"T2"},
		"sessionid=S3; csrftoken=C4; theme=dark":                                    {"S3", "C4"},
		"postgres://user:URLPASS@host:5432/db":                                      {"URLPASS"},
		"redis://:P5@cache/0":                                                       {"P5"},
		"https://example.com:8443/path?q=1":                                         nil,
		"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic QWxh\r\nCookie: a=b\r\n": {"Basic QWxh", "a=b"},
		"Bearer eyJhbGci.x.y":                                                       {"eyJhbGci.x.y"},
		"token=":                                                                    nil,
		"author=Ann&tokenizer=bpe":                                                  nil,
		"x = 1, password = 2":                                                       nil, // code, not a query string
		"":                                                                          nil,
	} {
		s := []rune(text)
		var got []string
		for _, h := range p.Hidden(s) {
			got = append(got, string(s[h[0]:h[1]]))
		}
		if !slices.Equal(got, want) {
			t.Errorf("Hidden(%q) = %q, want %q", text, got, want)
		}
	}
	if None().Hidden([]rune("password=x")) != nil {
		t.Error("None hides")
	}
	if got := p.With([]string{"pin"}).Hidden([]rune("card=1&pin=1234")); len(got) != 1 {
		t.Errorf("--redact-keys: %v", got)
	}
}

// FuzzHidden: texts come from the target: any must be scanned without a
// panic, into ordered, disjoint parts within it.
func FuzzHidden(f *testing.F) {
	for _, s := range []string{"a=1&token=x", "postgres://u:p@h/d", "Authorization: Bearer x", "bearer", "::////@@", "=\n:", "\xff=\xfe"} {
		f.Add(s)
	}
	p := Default()
	fuzzguard.Fuzz(f, func(t *testing.T, text string) {
		s := []rune(text)
		at := 0
		for _, h := range p.Hidden(s) {
			if h[0] < at || h[1] <= h[0] || h[1] > len(s) {
				t.Fatalf("Hidden(%q): part %v after %d", text, h, at)
			}
			at = h[1]
		}
	})
}
