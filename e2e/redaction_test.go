package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// redactionOracle is what redaction.py made up: values that must never
// show, values that must not show in an environment's repr, and values
// that must show.
type redactionOracle struct {
	Secrets []string `json:"secrets"`
	Environ []string `json:"environ"`
	Shown   []string `json:"shown"`
}

const redactedMarker = "…(redacted)"

// TestRedaction runs redaction.py, which holds made-up secrets under
// secret names (variables, attributes, dict keys, header pairs), in its
// process environment (os.environ, a copy of it), in a real WSGI environ
// (wsgiref, inside the application while it serves a request with a
// cookie and a bearer token) and, on 3.12+, in Django's request.META
// (Django's runserver server, inside a view). Default dumps, text and JSON,
// and the session must show none of them and every other value checked;
// --no-redact shows them; --redact-keys hides more.
func TestRedaction(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	webapps := testenv.WebApps(t)
	for _, in := range pick(t, "pbs-3.10", "pbs-3.12", "pbs-3.14", "debian-3.11") {
		t.Run(in.Name, func(t *testing.T) {
			django := in.Minor >= "3.12"
			var args []string
			if django {
				args = append(args, "django")
			}
			tg := testenv.StartTargetEnv(t, in, "redaction.py", []string{"PYTHONPATH=" + webapps}, args...)
			var o redactionOracle
			targetJSON(t, tg, "redaction.json", &o)
			pid := strconv.Itoa(tg.PID)
			for _, args := range [][]string{
				{"dump", "--locals", "--globals", pid},
				{"dump", "--json", "--locals", "--globals", "--stdlib-globals", pid},
			} {
				r := runPyscope(t, bin, nil, args...)
				if r.code != 0 {
					t.Fatalf("%v: %s", args, r.stderr)
				}
				for _, s := range o.Secrets {
					if strings.Contains(r.stdout, s) {
						t.Errorf("%v shows the secret %s", args, s)
					}
				}
				if !strings.Contains(r.stdout, redactedMarker) {
					t.Errorf("%v redacted nothing", args)
				}
				if args[1] == "--json" {
					for _, s := range o.Shown {
						if !strings.Contains(r.stdout, s) {
							t.Errorf("%v hides %s, which no secret name holds", args, s)
						}
					}
					checkEnvirons(t, r.stdout, o, django)
				}
			}

			// --no-redact: everything shows.
			r := runPyscope(t, bin, nil, "dump", "--json", "--locals", "--globals", "--no-redact", pid)
			for _, s := range append(o.Secrets, o.Environ...) {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("--no-redact hides %s", s)
				}
			}
			// --redact-keys: the variable user and the key note join the
			// list, as whole words.
			r = runPyscope(t, bin, nil, "dump", "--json", "--locals", "--redact-keys", "user,note", pid)
			for _, s := range o.Shown {
				hidden := strings.HasPrefix(s, "user-") || strings.HasPrefix(s, "configuser-") || strings.HasPrefix(s, "note-")
				if strings.Contains(r.stdout, s) == hidden {
					t.Errorf("--redact-keys user,note: %s shown %v", s, !hidden)
				}
			}
			checkSessionRedaction(t, bin, tg, o)
			tg.CheckRunning(t)
		})
	}
}

// checkEnvirons finds the WSGI application's environ and the Django
// view's request.META in a JSON dump: their keys show (the cookie's name
// too), their values do not, but for those that describe the request.
func checkEnvirons(t *testing.T, out string, o redactionOracle, django bool) {
	t.Helper()
	var d stopDump
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"app": "environ"}
	if django {
		want["view"] = "meta"
	}
	for _, th := range d.Threads {
		for _, f := range th.Frames {
			name, ok := want[f.Function]
			if !ok {
				continue
			}
			repr, ok := f.local(name)
			if !ok {
				t.Errorf("%s has no local %s", f.Function, name)
				continue
			}
			delete(want, f.Function)
			for _, key := range []string{"'HTTP_COOKIE': " + redactedMarker, "'HTTP_AUTHORIZATION': " + redactedMarker,
				"'QUERY_STRING': " + redactedMarker, "'PYSCOPE_TEST_ENV_VALUE': " + redactedMarker, "'REQUEST_METHOD': 'GET'"} {
				if !strings.Contains(repr, key) {
					t.Errorf("%s's %s lacks %s: %.3000s", f.Function, name, key, repr)
				}
			}
			for _, s := range o.Environ {
				if strings.Contains(repr, s) {
					t.Errorf("%s's %s shows %s", f.Function, name, s)
				}
			}
			shown := 0
			for _, s := range o.Shown {
				if strings.Contains(s, "path-") && strings.Contains(repr, "'/"+s+"'") {
					shown++ // PATH_INFO describes the request
				}
			}
			if shown != 1 {
				t.Errorf("%s's %s does not show its PATH_INFO: %.3000s", f.Function, name, repr)
			}
		}
	}
	for fn := range want {
		t.Errorf("no %s frame in the dump", fn)
	}
}

// checkSessionRedaction drives the session over the main thread's
// variables frame: py-locals, py-print of names, attributes, keys, and
// through os.environ.
func checkSessionRedaction(t *testing.T, bin string, tg *testenv.Target, o redactionOracle) {
	t.Helper()
	frame := -1
	for _, th := range tg.Oracle.Threads {
		if th.IsMain {
			for i, f := range th.Frames {
				if f.Function == "variables" {
					frame = i
				}
			}
		}
	}
	if frame < 0 {
		t.Fatal("the oracle has no variables frame on the main thread")
	}
	script := []string{"py-frame " + strconv.Itoa(frame), "py-locals", "py-print password", "py-print config",
		"py-print config['password']", "py-print config['nested']['token']", "py-print account",
		"py-print account.secret_key", "py-print headers", "py-print env._data", "py-print environ_copy['PYSCOPE_TEST_ENV_VALUE']",
		"py-print user", "py-bt-full"}
	args := []string{"debug", "--batch"}
	for _, c := range script {
		args = append(args, "-ex", c)
	}
	r := runPyscope(t, bin, nil, append(args, strconv.Itoa(tg.PID))...)
	if r.code != 0 {
		t.Fatalf("session: %s\n%s", r.stderr, r.stdout)
	}
	for _, s := range o.Secrets {
		if strings.Contains(r.stdout, s) {
			t.Errorf("the session shows the secret %s", s)
		}
	}
	for _, want := range []string{"local 'password' = " + redactedMarker, "config['password'] = " + redactedMarker,
		"config['nested']['token'] = " + redactedMarker, "account.secret_key = " + redactedMarker,
		"environ_copy['PYSCOPE_TEST_ENV_VALUE'] = " + redactedMarker, "password = " + redactedMarker} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the session does not print %q:\n%s", want, r.stdout)
		}
	}
	for _, s := range o.Shown {
		if strings.HasPrefix(s, "user-") && !strings.Contains(r.stdout, "local 'user' = '"+s+"'") {
			t.Errorf("the session hides user:\n%s", r.stdout)
		}
	}
	r = runPyscope(t, bin, nil, append(append(args[:2:2], "--no-redact"), append(args[2:], strconv.Itoa(tg.PID))...)...)
	for _, s := range o.Secrets {
		if strings.HasPrefix(s, "password-") && !strings.Contains(r.stdout, s) {
			t.Errorf("--no-redact: the session hides %s:\n%s", s, r.stdout)
		}
	}
}
