// Package profiletest has the consumers of pyscope's profile formats that
// tests run: the reference JSON-schema validator for speedscope files and
// headless Chromium for the flame graph page.
package profiletest

import (
	"bytes"
	"html"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// SpeedscopeValidator validates a JSON file against the vendored
// speedscope schema with Python's jsonschema (the reference
// implementation); it returns the first errors and false when invalid.
func SpeedscopeValidator(t testing.TB) func(path string) (string, bool) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	schema := filepath.Join(root, "internal", "profile", "testdata", "speedscope-file-format-schema.json")
	py := filepath.Join(testenv.PyTools(t), "python")
	const script = `import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
errors = list(jsonschema.Draft7Validator(schema).iter_errors(json.load(open(sys.argv[2]))))
for e in errors[:5]:
    print(e.message[:300], "at", list(e.absolute_path))
sys.exit(1 if errors else 0)
`
	return func(path string) (string, bool) {
		out, err := exec.Command(py, "-c", script, schema, path).CombinedOutput()
		if err != nil {
			if _, ok := err.(*exec.ExitError); !ok || len(out) == 0 {
				t.Fatalf("jsonschema: %v\n%s", err, out)
			}
			return string(out), false
		}
		return "", true
	}
}

// ChromiumDOM loads a page in headless Chromium, lets its scripts run, and
// returns the DOM they left.
func ChromiumDOM(t testing.TB, path string) string {
	t.Helper()
	bin := testenv.NeedCommand(t, "chromium", "chromium")
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=10000", "--dump-dom", "file://"+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.String())
	}
	return string(out)
}

var titleRE = regexp.MustCompile(`(?s)<title>(.*?)</title>`)

// SVGTitles are the tooltips d3-flame-graph drew, one per frame box.
func SVGTitles(dom string) []string {
	_, svg, _ := strings.Cut(dom, `<div id="chart">`)
	svg, _, _ = strings.Cut(svg, `</div>`+"\n"+`<script type="application/json"`)
	var out []string
	for _, m := range titleRE.FindAllStringSubmatch(svg, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}
